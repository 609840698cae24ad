// Slot devices: a file (tests, the demo), a block device or partition, or /dev/mtdblockN.
// Knows how big each is and whether two paths name the same storage.

import type { SlotDevice } from '../board/profile.js';
import type { FileStat, FileSystem } from '../platform/fs.js';
import { SlotWriteError } from './errors.js';

/** Linux dev_t → "major:minor", the name of the device under /sys/dev/block. */
function devName(rdev: number): string {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & ~0xff) >>> 0);
  return `${major}:${minor}`;
}

/** Bytes a slot can hold: the configured size, else the device's size (files: unlimited). */
export async function slotCapacity(fs: FileSystem, slot: SlotDevice): Promise<number> {
  if (slot.size !== undefined) return slot.size;
  let st: FileStat;
  try {
    st = await fs.stat(slot.device);
  } catch (cause) {
    if (slot.type === 'file' && (cause as NodeJS.ErrnoException).code === 'ENOENT') return Number.POSITIVE_INFINITY;
    throw new SlotWriteError(`cannot stat slot device ${slot.device}`, { cause });
  }
  if (st.isBlockDevice) {
    const sysfs = `/sys/dev/block/${devName(st.rdev)}/size`;
    try {
      return Number((await fs.readFile(sysfs)).toString().trim()) * 512;
    } catch (cause) {
      throw new SlotWriteError(`cannot read the size of ${slot.device} from ${sysfs}`, { cause });
    }
  }
  if (slot.type === 'file') return Number.POSITIVE_INFINITY;
  return st.size;
}

/** True when both paths reach the same file or the same block device. */
export async function sameStorage(fs: FileSystem, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  let sa: FileStat;
  let sb: FileStat;
  try {
    [sa, sb] = await Promise.all([fs.stat(a), fs.stat(b)]);
  } catch {
    // One of them does not exist yet (a file slot about to be created): they cannot be one.
    return false;
  }
  if (sa.isBlockDevice && sb.isBlockDevice) return sa.rdev === sb.rdev;
  return sa.dev === sb.dev && sa.ino === sb.ino;
}
