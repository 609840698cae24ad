// The A/B model: which slot booted (the kernel says), which the bootloader will boot next
// (the env says), and which one may be written (never the booted one).

import { readFileIfExists, type FileSystem } from '../platform/fs.js';
import { SlotStateError } from './errors.js';

export type SlotName = 'a' | 'b';
export const SLOT_NAMES: readonly SlotName[] = ['a', 'b'];

export function otherSlot(s: SlotName): SlotName {
  return s === 'a' ? 'b' : 'a';
}

export function parseSlotName(value: string | undefined, what: string): SlotName {
  const v = value?.trim().toLowerCase();
  if (v === 'a' || v === 'b') return v;
  throw new SlotStateError(`${what} is ${value === undefined ? 'not set' : `"${value}"`}, expected a or b`);
}

export type BootedSlotSource = { cmdline: string; param: string } | { file: string };

/** Reads the slot that actually booted: `param=X` on the kernel command line, or a file. */
export async function readBootedSlot(fs: FileSystem, source: BootedSlotSource): Promise<SlotName> {
  if ('file' in source) {
    const text = await readFileIfExists(fs, source.file);
    return parseSlotName(text?.toString('utf8'), `booted slot file ${source.file}`);
  }
  const text = (await readFileIfExists(fs, source.cmdline))?.toString('utf8');
  if (text === undefined) throw new SlotStateError(`cannot read the kernel command line from ${source.cmdline}`);
  const found = text
    .split(/\s+/)
    .map((w) => w.split('='))
    .find(([k]) => k === source.param);
  return parseSlotName(found?.[1], `kernel parameter ${source.param}`);
}

export interface SlotState {
  /** The slot the running system came from. */
  booted: SlotName;
  /** The slot the env points the bootloader at. */
  primary: SlotName;
  /** upgrade_available=1: the primary slot is on trial, counted by the bootloader. */
  trial: boolean;
  bootcount: number;
  bootlimit: number;
  /** The slot an install writes to: always the one not booted. */
  inactive: SlotName;
}

export function slotState(env: Map<string, string>, booted: SlotName, slotVariable: string, defaultBootlimit: number): SlotState {
  const primary = parseSlotName(env.get(slotVariable), `env variable ${slotVariable}`);
  const num = (name: string, fallback: number): number => {
    const raw = env.get(name);
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw.startsWith('0x') ? parseInt(raw, 16) : raw);
    if (!Number.isInteger(n) || n < 0) throw new SlotStateError(`env variable ${name}="${raw}" is not a count`);
    return n;
  };
  return {
    booted,
    primary,
    trial: env.get('upgrade_available') === '1',
    bootcount: num('bootcount', 0),
    bootlimit: num('bootlimit', defaultBootlimit),
    inactive: otherSlot(booted),
  };
}
