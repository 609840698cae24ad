// The U-Boot boot script of a board: the template named by the profile
// (board-profiles/scripts/uboot-bootcount.cmd) filled with the profile's layout and
// parameters, then wrapped by `mkimage -T script` into the boot.scr U-Boot's distro boot runs.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardProfile } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { run } from './exec.js';
import { envCopiesOnDisk, partitionOf, storageOf } from './layout.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The filled script text. `profileFile` locates the template (relative to the profile). */
export function renderBootScript(p: BoardProfile, profileFile: string): string {
  if (p.bootloader.kind !== 'uboot' || !p.bootloader.script) throw new QemuError(`board ${p.name} has no U-Boot boot script`);
  if (p.bootloader.bootlimit > 9) throw new QemuError(`board ${p.name}: the boot script counts in one hex digit; bootlimit must be at most 9`);
  const s = storageOf(p);
  const copies = envCopiesOnDisk(p);
  const env = copies[0]!;
  if (copies.length === 2 && copies[1]!.size !== env.size) throw new QemuError(`board ${p.name}: both env copies must have the same size`);
  const template = fs.readFileSync(path.resolve(path.dirname(profileFile), p.bootloader.script), 'utf8');
  const redundantScript = template.includes('@ENV2_BLK@');
  if (redundantScript !== (copies.length === 2)) {
    throw new QemuError(`board ${p.name}: ${p.bootloader.script} is for ${redundantScript ? 'two env copies' : 'one env copy'}, the profile has ${copies.length}`);
  }
  // RAM buffers for the redundant script: copy 1, copy 2, 4 bytes of scratch, page-aligned.
  const buffers: Record<string, string> = {};
  const base = p.bootloader.scriptParams['ENV_BUF'];
  if (base) {
    const step = Math.ceil((env.size + 0x1000) / 0x1000) * 0x1000;
    const b1 = parseInt(base, 16);
    Object.assign(buffers, {
      B1: hex(b1), B2: hex(b1 + step), TMP: hex(b1 + 2 * step),
      B1P1: hex(b1 + 1), B2P1: hex(b1 + step + 1), B1F: hex(b1 + 4), B2F: hex(b1 + step + 4),
    });
  }
  const values: Record<string, string> = {
    ...buffers,
    SIZEM1: hex(env.size - 1),
    ...(copies[1] ? { ENV2_BLK: hex(copies[1].offset / 512) } : {}),
    IF: s.ubootInterface ?? 'virtio',
    DEV: String(s.ubootDevice),
    ENV_OFFSET: hex(env.offset),
    ENV_SIZE: hex(env.size),
    ENV_BLK: hex(env.offset / 512),
    ENV_CNT: hex(env.size / 512),
    SLOTVAR: p.bootloader.slotVariable,
    BOOTLIMIT: String(p.bootloader.bootlimit),
    PART_A: String(partitionOf(p, 'a').number),
    PART_B: String(partitionOf(p, 'b').number),
    KERNEL: s.kernelPath,
    INITRD: s.initrdPath,
    CONSOLE: p.console ?? 'ttyS0',
    SLOTPARAM: p.bootedSlotParam,
    EXTRA_ARGS: '',
    ...p.bootloader.scriptParams,
  };
  const text = template.replace(/@([A-Z][A-Z0-9_]*)@/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new QemuError(`board ${p.name}: boot script needs @${name}@ (bootloader.scriptParams)`);
    return v;
  });
  return text;
}

/** Writes boot.cmd (readable source) and boot.scr (mkimage) into `dir`. */
export async function writeBootScript(p: BoardProfile, profileFile: string, dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const cmd = path.join(dir, 'boot.cmd');
  const scr = path.join(dir, 'boot.scr');
  fs.writeFileSync(cmd, renderBootScript(p, profileFile));
  await run('mkimage', ['-q', '-A', p.arch === 'arm64' ? 'arm64' : 'arm', '-O', 'linux', '-T', 'script', '-C', 'none', '-n', `slotflip ${p.name}`, '-d', cmd, scr]);
  return scr;
}
