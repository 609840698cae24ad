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
  const [env] = envCopiesOnDisk(p);
  if (p.env.copies.length !== 1) throw new QemuError(`board ${p.name}: the boot script handles a single env copy`);
  const template = fs.readFileSync(path.resolve(path.dirname(profileFile), p.bootloader.script), 'utf8');
  const values: Record<string, string> = {
    IF: s.ubootInterface ?? 'virtio',
    DEV: String(s.ubootDevice),
    ENV_OFFSET: hex(env!.offset),
    ENV_SIZE: hex(env!.size),
    ENV_BLK: hex(env!.offset / 512),
    ENV_CNT: hex(env!.size / 512),
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
