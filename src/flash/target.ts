// The flash target: a regular file (created fresh and sparse, so every block not written reads
// as zero) or a whole block device, which must not be mounted or held by device-mapper/md.
// Node has no ioctl, so a block device's size comes from sysfs.

import { realpath } from 'node:fs/promises';
import * as path from 'node:path';
import type { FileHandle, FileSystem } from '../platform/fs.js';
import { FlashTargetError, TargetMountedError } from './errors.js';

export interface OpenTarget {
  handle: FileHandle;
  kind: 'file' | 'block';
  /** Resolved path (symlinks such as /dev/disk/by-id/... followed). */
  device: string;
  /** Bytes the target holds; undefined when sysfs does not say. */
  size: number | undefined;
  /** True when every byte not written reads as zero (a fresh sparse file). */
  zeroed: boolean;
}

export interface TargetOptions {
  fs: FileSystem;
  /** Where the mount table is read; tests point this at a file of their own. */
  mountsFile?: string;
  sysBlockDir?: string;
}

/** Decodes the octal escapes /proc/self/mounts uses for spaces, tabs and backslashes. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

async function resolve(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    // A mount source that no longer exists cannot be our target; compare it as written.
    return path.resolve(p);
  }
}

/**
 * Refuses when `device` or a partition of it (sda → sda1, mmcblk0 → mmcblk0p1) is a mount
 * source, or when sysfs lists holders (LVM, dm-crypt, md) on it.
 */
export async function assertNotMounted(device: string, opts: TargetOptions): Promise<void> {
  const mounts = (await opts.fs.readFile(opts.mountsFile ?? '/proc/self/mounts')).toString('utf8');
  const name = path.basename(device);
  const partition = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}p?\\d+$`);
  for (const line of mounts.split('\n')) {
    const [rawSource, rawPoint] = line.split(' ');
    if (!rawSource || !rawPoint || !rawSource.startsWith('/')) continue;
    const source = await resolve(unescapeMount(rawSource));
    const isDisk = source === device;
    if (isDisk || (path.dirname(source) === path.dirname(device) && partition.test(path.basename(source)))) {
      throw new TargetMountedError(`${device} is in use: ${source} is mounted on ${unescapeMount(rawPoint)}`, {
        details: { device, source, mountpoint: unescapeMount(rawPoint) },
      });
    }
  }
  const holders = path.join(opts.sysBlockDir ?? '/sys/class/block', name, 'holders');
  if (await opts.fs.exists(holders)) {
    const held = await opts.fs.readdir(holders);
    if (held.length) throw new TargetMountedError(`${device} is in use by ${held.join(', ')} (device-mapper or md)`, { details: { device, holders: held } });
  }
}

async function blockDeviceSize(fs: FileSystem, device: string, sysBlockDir: string): Promise<number | undefined> {
  const file = path.join(sysBlockDir, path.basename(device), 'size');
  if (!(await fs.exists(file))) return undefined;
  // sysfs counts 512-byte sectors whatever the device's logical block size.
  const sectors = Number((await fs.readFile(file)).toString('utf8').trim());
  return Number.isFinite(sectors) ? sectors * 512 : undefined;
}

async function openOrRefuse(fs: FileSystem, device: string, mode: 'update' | 'truncate'): Promise<FileHandle> {
  try {
    return await fs.open(device, mode);
  } catch (cause) {
    throw new FlashTargetError(`cannot open ${device} for writing`, { cause, details: { device } });
  }
}

/**
 * Opens the target for an image of `imageSize` bytes. A file is truncated to zero and then
 * extended to the image size, so it is sparse and known to be zero-filled.
 */
export async function openTarget(target: string, imageSize: number, opts: TargetOptions): Promise<OpenTarget> {
  const fs = opts.fs;
  const exists = await fs.exists(target);
  const device = exists ? await resolve(target) : path.resolve(target);
  await assertNotMounted(device, opts);
  const st = exists ? await fs.stat(device) : undefined;
  if (st && st.isBlockDevice) {
    const size = await blockDeviceSize(fs, device, opts.sysBlockDir ?? '/sys/class/block');
    if (size !== undefined && size < imageSize) {
      throw new FlashTargetError(`${device} holds ${size} bytes, the image needs ${imageSize}`, { details: { device, size, imageSize } });
    }
    return { handle: await openOrRefuse(fs, device, 'update'), kind: 'block', device, size, zeroed: false };
  }
  if (st && !st.isFile) throw new FlashTargetError(`${device} is neither a regular file nor a block device`, { details: { device } });
  const handle = await openOrRefuse(fs, device, 'truncate');
  try {
    await handle.truncate(imageSize);
  } catch (cause) {
    await handle.close();
    throw new FlashTargetError(`cannot size ${device} to ${imageSize} bytes`, { cause });
  }
  return { handle, kind: 'file', device, size: imageSize, zeroed: true };
}
