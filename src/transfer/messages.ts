// JSON messages of the protocol that are not chunk frames: what a device tells the publisher
// on the release's requests topic (join, ack, request, done) and the retained announcement
// that points devices at a release. Parsing is strict: these come from the network.

import { Bitmap, type Range } from './bitmap.js';
import { FrameError } from './errors.js';

export const MESSAGE_VERSION = 1;
/** A request for every chunk of a 16 GiB payload at 4 KiB chunks still fits (bitmap form). */
export const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
/** Missing sets with more runs than this travel as a bitmap. */
const MAX_RANGES = 64;

/**
 * join: start, reconnect or silence; everything listed as missing is owed to the device.
 * request: frames went missing (sequence gap, bad CRC); chunks sent up to `seq` were lost.
 * ack: flow control and progress only. done: every wanted chunk is durable.
 */
export type DeviceMessageKind = 'join' | 'request' | 'ack' | 'done';

export interface DeviceMessage {
  kind: DeviceMessageKind;
  device: string;
  /** Epoch and sequence number of the last frame the device handled (0, 0: none yet). */
  epoch: number;
  seq: number;
  /** Chunks durable on the device / chunks it wants (all-zero chunks included). */
  have: number;
  total: number;
  bytes: number;
  totalBytes: number;
  /** Missing chunks per payload index (join and request only). */
  missing?: Map<number, Bitmap>;
  /**
   * Repair rows the device holds and cannot use yet, per generation. Present (possibly empty)
   * when the device decodes repair frames: the publisher then repairs its losses with them.
   */
  held?: HeldRows[];
}

export interface HeldRows {
  payload: number;
  start: number;
  size: number;
  count: number;
}

/** More held entries than a device can have (memory-capped rows) is a malformed message. */
const MAX_HELD = 4096;

type WireMissing = { p: number; ranges?: Range[]; bitmap?: string };

export function encodeDeviceMessage(m: DeviceMessage): Buffer {
  const wire: Record<string, unknown> = {
    v: MESSAGE_VERSION,
    kind: m.kind,
    device: m.device,
    epoch: m.epoch,
    seq: m.seq,
    have: m.have,
    total: m.total,
    bytes: m.bytes,
    totalBytes: m.totalBytes,
  };
  if (m.missing) {
    const list: WireMissing[] = [];
    for (const [p, bits] of m.missing) {
      const ranges = bits.ranges(true, MAX_RANGES + 1);
      list.push(ranges.length <= MAX_RANGES ? { p, ranges } : { p, bitmap: Buffer.from(bits.bytes).toString('base64') });
    }
    wire.missing = list;
  }
  if (m.held) wire.held = m.held.map((h) => [h.payload, h.start, h.size, h.count]);
  return Buffer.from(JSON.stringify(wire));
}

const KINDS: ReadonlySet<string> = new Set(['join', 'request', 'ack', 'done']);
const DEVICE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new FrameError(`device message field ${what} is not a non-negative integer`);
  return v;
}

/** Parses a device message; `chunkCounts[p]` is the number of chunks of payload p. */
export function decodeDeviceMessage(input: Uint8Array, chunkCounts: readonly number[]): DeviceMessage {
  if (input.length > MAX_REQUEST_BYTES) throw new FrameError(`device message of ${input.length} bytes exceeds ${MAX_REQUEST_BYTES}`);
  let w: Record<string, unknown>;
  try {
    w = JSON.parse(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8'));
  } catch (cause) {
    throw new FrameError('device message is not JSON', { cause });
  }
  if (typeof w !== 'object' || w === null || w.v !== MESSAGE_VERSION) throw new FrameError('device message has no supported version');
  if (typeof w.kind !== 'string' || !KINDS.has(w.kind)) throw new FrameError(`device message kind ${String(w.kind)} is unknown`);
  if (typeof w.device !== 'string' || !DEVICE_ID.test(w.device)) throw new FrameError('device message has no valid device id');
  const m: DeviceMessage = {
    kind: w.kind as DeviceMessageKind,
    device: w.device,
    epoch: uint(w.epoch, 'epoch'),
    seq: uint(w.seq, 'seq'),
    have: uint(w.have, 'have'),
    total: uint(w.total, 'total'),
    bytes: uint(w.bytes, 'bytes'),
    totalBytes: uint(w.totalBytes, 'totalBytes'),
  };
  if (w.missing !== undefined) {
    if (!Array.isArray(w.missing)) throw new FrameError('device message field missing is not a list');
    m.missing = new Map();
    for (const entry of w.missing as WireMissing[]) {
      const p = uint(entry?.p, 'missing.p');
      const count = chunkCounts[p];
      if (count === undefined) throw new FrameError(`device message names payload ${p}, which the release does not have`);
      m.missing.set(p, decodeMissing(entry, count));
    }
  }
  if (w.held !== undefined) {
    if (!Array.isArray(w.held) || w.held.length > MAX_HELD) throw new FrameError('device message field held is not a list of at most 4096 entries');
    m.held = (w.held as unknown[]).map((e) => {
      if (!Array.isArray(e) || e.length !== 4) throw new FrameError('held entry is not [payload, start, size, count]');
      const [payload, start, size, count] = e.map((v, k) => uint(v, `held[${k}]`)) as [number, number, number, number];
      if (chunkCounts[payload] === undefined || size === 0 || start + size > chunkCounts[payload]!) throw new FrameError(`held entry [${payload}, ${start}, ${size}] is outside the release`);
      return { payload, start, size, count };
    });
  }
  return m;
}

function decodeMissing(entry: WireMissing, count: number): Bitmap {
  if (typeof entry.bitmap === 'string') {
    const raw = Buffer.from(entry.bitmap, 'base64');
    if (raw.length !== Math.ceil(count / 8)) throw new FrameError(`missing bitmap of ${raw.length} bytes does not fit ${count} chunks`);
    return new Bitmap(count, raw);
  }
  if (!Array.isArray(entry.ranges)) throw new FrameError('missing entry has neither ranges nor bitmap');
  // Senders switch to the bitmap form past MAX_RANGES; more ranges only cost the publisher time.
  if (entry.ranges.length > MAX_RANGES) throw new FrameError(`missing entry lists ${entry.ranges.length} ranges, more than ${MAX_RANGES}`);
  const bits = new Bitmap(count);
  for (const r of entry.ranges) {
    if (!Array.isArray(r) || r.length !== 2) throw new FrameError('missing range is not [from, to]');
    const from = uint(r[0], 'range start');
    const to = uint(r[1], 'range end');
    if (from >= to || to > count) throw new FrameError(`missing range [${from}, ${to}) is outside 0..${count}`);
    bits.addRange(from, to);
  }
  return bits;
}

/** Retained pointer from a board, group or device announcement topic to a release. */
export interface Announcement {
  releaseId: string;
  board: string;
  /** Base topic of the release (see releaseTopicsFromBase). */
  topic: string;
  /** Informational; devices trust only the signed manifest. */
  version?: string;
  /** When set, only these devices should act on it (a board or group announcement may list them). */
  devices?: string[];
  published: string;
}

export function encodeAnnouncement(a: Announcement): Buffer {
  return Buffer.from(JSON.stringify({ v: MESSAGE_VERSION, ...a }));
}

/** Parses an announcement; an empty retained message (withdrawn) yields undefined. */
export function decodeAnnouncement(input: Uint8Array): Announcement | undefined {
  if (input.length === 0) return undefined;
  if (input.length > 64 * 1024) throw new FrameError('announcement exceeds 64 KiB');
  let w: Record<string, unknown>;
  try {
    w = JSON.parse(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8'));
  } catch (cause) {
    throw new FrameError('announcement is not JSON', { cause });
  }
  if (typeof w !== 'object' || w === null || w.v !== MESSAGE_VERSION) throw new FrameError('announcement has no supported version');
  const str = (k: string): string => {
    if (typeof w[k] !== 'string') throw new FrameError(`announcement field ${k} is not a string`);
    return w[k] as string;
  };
  const a: Announcement = { releaseId: str('releaseId'), board: str('board'), topic: str('topic'), published: str('published') };
  if (!/^[0-9a-f]{16}$/.test(a.releaseId)) throw new FrameError('announcement release id is not 16 hex digits');
  if (w.version !== undefined) a.version = str('version');
  if (w.devices !== undefined) {
    if (!Array.isArray(w.devices) || !w.devices.every((d) => typeof d === 'string')) throw new FrameError('announcement devices is not a list of ids');
    a.devices = w.devices as string[];
  }
  return a;
}

/** Whether a device should act on an announcement it received. */
export function announcementTargets(a: Announcement, device: { deviceId: string; board: string }): boolean {
  if (a.board !== device.board) return false;
  return a.devices === undefined || a.devices.includes(device.deviceId);
}
