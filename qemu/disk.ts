// Disk images: an MBR made by sfdisk on a sparse file, partition images placed with
// `dd conv=notrunc,sparse`, and the env region written by mkenvimage. Env reads and writes on
// the host go through Debian's fw_printenv/fw_setenv, the same bytes U-Boot and the agent use.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardProfile } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { run } from './exec.js';
import { MiB, diskBytes, envCopiesOnDisk, hostFwEnvConfig, partitionOf, partitions, storageOf, type PartitionLayout } from './layout.js';

/** Creates the disk file with its partition table (sparse; every byte zero). */
export async function createDisk(p: BoardProfile, file: string): Promise<void> {
  const s = storageOf(p);
  fs.rmSync(file, { force: true });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, diskBytes(p));
  const lines = [`label: ${s.table}`, 'unit: sectors', ''];
  for (const part of partitions(p)) {
    const type = s.table === 'dos' ? (s.partitions[part.number - 1]!.fs === 'vfat' ? 'c' : '83') : 'L';
    const boot = part.role === 'boot' ? (s.table === 'dos' ? ', bootable' : ', attrs="LegacyBIOSBootable"') : '';
    lines.push(`start=${part.offset / 512}, size=${part.size / 512}, type=${type}${boot}`);
  }
  await run('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', file], { input: lines.join('\n') + '\n' });
}

/** Writes `image` into the partition of `role` (it must fit). Zero blocks are skipped: use on fresh disks or after wipePartition. */
export async function writePartition(p: BoardProfile, disk: string, role: PartitionLayout['role'], image: string, opts: { wipe?: boolean } = {}): Promise<void> {
  const part = partitionOf(p, role);
  const size = fs.statSync(image).size;
  if (size > part.size) throw new QemuError(`${image} (${size} bytes) does not fit partition ${role} (${part.size} bytes)`);
  if (opts.wipe) await wipe(disk, part.offset, part.size);
  await run('dd', [`if=${image}`, `of=${disk}`, 'bs=1M', `seek=${part.offset / MiB}`, 'conv=notrunc,sparse', 'status=none']);
}

/** Zeroes a byte range of the disk by punching it out (the file stays sparse). */
async function wipe(disk: string, offset: number, length: number): Promise<void> {
  await run('fallocate', ['--punch-hole', '--keep-size', '-o', String(offset), '-l', String(length), disk]);
}

/** Host-side fw_env.config for the disk file, written next to it. */
export function writeFwEnvConfig(p: BoardProfile, disk: string): string {
  const cfg = `${disk}.fw_env.config`;
  fs.writeFileSync(cfg, hostFwEnvConfig(p, disk));
  return cfg;
}

/** Initialises every env copy of the disk with `vars` (mkenvimage: CRC-32 + NUL-separated pairs). */
export async function initEnv(p: BoardProfile, disk: string, vars: Record<string, string>, scratch: string): Promise<void> {
  const copies = envCopiesOnDisk(p);
  fs.mkdirSync(scratch, { recursive: true });
  const text = path.join(scratch, 'env.txt');
  const bin = path.join(scratch, 'env.bin');
  fs.writeFileSync(text, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const redundant = copies.length > 1 ? ['-r'] : [];
  for (const c of copies) {
    await run('mkenvimage', [...redundant, '-s', String(c.size), '-o', bin, text]);
    await run('dd', [`if=${bin}`, `of=${disk}`, `seek=${c.offset}`, 'oflag=seek_bytes', 'conv=notrunc', 'status=none']);
  }
}

/** The env as fw_printenv reads it from the disk file; throws when no copy is valid. */
export async function readEnv(fwEnvConfig: string): Promise<Record<string, string>> {
  const r = await run('fw_printenv', ['-c', fwEnvConfig], { allowFail: true });
  if (r.code !== 0) throw new QemuError(`fw_printenv -c ${fwEnvConfig} failed: ${r.stderr.trim()}`);
  const vars: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
  }
  return vars;
}

/**
 * Sets (or, with undefined, deletes) env variables with fw_setenv, one write per variable:
 * Debian 12's libubootenv 0.3.2 accepts `fw_setenv -s FILE` but does not apply it.
 */
export async function setEnv(fwEnvConfig: string, vars: Record<string, string | undefined>): Promise<void> {
  for (const [k, v] of Object.entries(vars)) {
    await run('fw_setenv', ['-c', fwEnvConfig, k, ...(v === undefined ? [] : [v])]);
  }
}
