// eMMC boot partitions (mmcblkNbootM), where many boards keep their environment, come up
// read-only (/sys/class/block/<dev>/force_ro = 1). Like libubootenv, lift that around our write
// and put it back afterwards, so the partition stays protected the rest of the time.

import * as path from 'node:path';
import { IoError } from '../errors.js';
import type { FileSystem } from '../platform/fs.js';

async function writeSysfs(fs: FileSystem, file: string, value: string): Promise<void> {
  const fh = await fs.open(file, 'update');
  try {
    await fh.write(Buffer.from(value), 0);
  } finally {
    await fh.close();
  }
}

export async function withWritable<T>(fs: FileSystem, device: string, isBlockDevice: boolean, fn: () => Promise<T>): Promise<T> {
  const name = path.basename(device);
  if (!isBlockDevice || !/^mmcblk\d+boot\d+$/.test(name)) return fn();
  const flag = `/sys/class/block/${name}/force_ro`;
  let wasReadOnly: boolean;
  try {
    wasReadOnly = (await fs.readFile(flag)).toString('utf8').trim() === '1';
  } catch (cause) {
    throw new IoError(`cannot read ${flag}`, { cause });
  }
  if (!wasReadOnly) return fn();
  try {
    await writeSysfs(fs, flag, '0');
  } catch (cause) {
    throw new IoError(`cannot make ${device} writable through ${flag}`, { cause });
  }
  try {
    return await fn();
  } finally {
    await writeSysfs(fs, flag, '1');
  }
}
