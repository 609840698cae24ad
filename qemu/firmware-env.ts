// U-Boot's own environment for QEMU boards, in a read-only pflash bank: the firmware's built-in
// default env (found in the U-Boot binary) with a few values changed, chiefly bootdelay=0,
// which saves two seconds on every boot. Boot counting never touches it (that env is on disk).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardProfile } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { run } from './exec.js';

/** The default env compiled into a U-Boot binary: NUL-separated name=value, ending with two NULs. */
export function defaultEnvOf(binary: Buffer): string[] {
  const anchor = binary.indexOf(Buffer.from('\0bootcmd='));
  if (anchor < 0) throw new QemuError('no default environment (bootcmd=) in the U-Boot binary');
  const end = binary.indexOf(Buffer.from('\0\0'), anchor + 1);
  const vars = binary.subarray(anchor + 1, end).toString('latin1').split('\0');
  if (!vars.every((v) => /^[A-Za-z0-9_.]+=/.test(v))) throw new QemuError('the U-Boot default environment does not parse');
  return vars;
}

/** Writes the pflash image for the board's `qemu.firmwareEnv`; returns its path, or undefined. */
export async function writeFirmwareEnvFlash(p: BoardProfile, outDir: string): Promise<string | undefined> {
  const fw = p.qemu?.firmwareEnv;
  if (!fw || !p.qemu?.bios) return undefined;
  const vars = new Map(defaultEnvOf(fs.readFileSync(p.qemu.bios)).map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]));
  for (const [k, v] of Object.entries(fw.set)) vars.set(k, v);
  const text = path.join(outDir, 'uboot-env.txt');
  const env = path.join(outDir, 'uboot-env.bin');
  const flash = path.join(outDir, `pflash${fw.unit}.img`);
  // mkenvimage reads one name=value per line; U-Boot's defaults hold no newlines.
  fs.writeFileSync(text, [...vars].map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  await run('mkenvimage', ['-s', String(fw.envSize), '-o', env, text]);
  fs.rmSync(flash, { force: true });
  fs.copyFileSync(env, flash);
  fs.truncateSync(flash, fw.flashBytes);
  fs.rmSync(env);
  fs.rmSync(text);
  return flash;
}
