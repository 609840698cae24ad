// Where the copies of a U-Boot environment live: turns fw_env.config-style entries (device,
// offset, size, sector size) into absolute byte ranges and refuses geometry that cannot hold,
// before a byte is read or written. Negative offsets count back from the end of the device.

import * as path from 'node:path';
import type { EnvCopy } from '../board/profile.js';
import { ConfigError, IoError } from '../errors.js';
import type { FileSystem } from '../platform/fs.js';
import { EnvGeometryError } from './errors.js';
import { headerSize } from './uboot-format.js';

export interface ResolvedCopy {
  device: string;
  /** Absolute byte offset in the device. */
  offset: number;
  size: number;
  /** A regular file (grows on init) rather than a block device. */
  isFile: boolean;
}

/** Linux dev_t → "major:minor", the key of /sys/dev/block. */
function devNumber(rdev: number): string {
  const major = (Math.floor(rdev / 256) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff);
  return `${major}:${minor}`;
}

/** Size in bytes of a block device: sysfs counts 512-byte sectors whatever the block size. */
async function blockDeviceSize(fs: FileSystem, device: string, rdev: number): Promise<number> {
  const candidates = [`/sys/dev/block/${devNumber(rdev)}/size`, `/sys/class/block/${path.basename(device)}/size`];
  let lastErr: unknown;
  for (const file of candidates) {
    try {
      const sectors = Number((await fs.readFile(file)).toString('utf8').trim());
      if (Number.isSafeInteger(sectors) && sectors >= 0) return sectors * 512;
      lastErr = new Error(`${file}: not a sector count`);
    } catch (err) {
      lastErr = err;
    }
  }
  throw new IoError(`cannot learn the size of block device ${device} from sysfs`, { cause: lastErr });
}

/** The device's length, or undefined when it does not exist (only a regular file may be created). */
async function deviceLength(fs: FileSystem, device: string): Promise<{ length: number; isFile: boolean } | undefined> {
  let st;
  try {
    st = await fs.stat(device);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IoError(`cannot stat environment device ${device}`, { cause: err });
  }
  if (st.isFile) return { length: st.size, isFile: true };
  if (st.isBlockDevice) return { length: await blockDeviceSize(fs, device, st.rdev), isFile: false };
  if (st.isCharacterDevice) {
    throw new ConfigError(`${device} is a character device: raw MTD needs erase ioctls; use its /dev/mtdblockN instead`);
  }
  throw new ConfigError(`${device} is neither a regular file nor a block device`);
}

/**
 * Resolves and checks the copies. `forInit` lets a regular file be missing or short (init
 * creates or extends it); otherwise every copy must lie wholly inside its device.
 */
export async function resolveCopies(fs: FileSystem, copies: EnvCopy[], forInit = false): Promise<ResolvedCopy[]> {
  if (copies.length < 1 || copies.length > 2) throw new EnvGeometryError(`expected one or two environment copies, got ${copies.length}`);
  const redundant = copies.length === 2;
  if (redundant && copies[0]!.size !== copies[1]!.size) {
    throw new EnvGeometryError(`the two environment copies differ in size (${copies[0]!.size} and ${copies[1]!.size})`, {
      details: { sizes: [copies[0]!.size, copies[1]!.size] },
    });
  }
  const out: ResolvedCopy[] = [];
  for (const c of copies) {
    const where = `${c.device} offset ${c.offset} size ${c.size}`;
    if (!Number.isSafeInteger(c.size) || c.size < headerSize(redundant) + 2) {
      throw new EnvGeometryError(`${where}: too small for a header and an empty environment`);
    }
    const dev = await deviceLength(fs, c.device);
    if (!dev && !forInit) throw new IoError(`environment device ${c.device} does not exist`, { details: { device: c.device } });
    const length = dev?.length ?? 0;
    const offset = c.offset < 0 ? length + c.offset : c.offset;
    if (offset < 0) throw new EnvGeometryError(`${where}: the device holds only ${length} bytes`, { details: { device: c.device, length } });
    if (c.sectorSize) {
      if (offset % c.sectorSize !== 0) throw new EnvGeometryError(`${where}: does not start on a sector (${c.sectorSize}) boundary`);
      const room = (c.sectors ?? Math.ceil(c.size / c.sectorSize)) * c.sectorSize;
      if (c.size > room) throw new EnvGeometryError(`${where}: does not fit in ${room} bytes of sectors`);
    }
    const mayGrow = forInit && (dev === undefined || dev.isFile);
    if (offset + c.size > length && !mayGrow) {
      throw new EnvGeometryError(`${where}: ends at ${offset + c.size} but ${c.device} holds only ${length} bytes`, {
        details: { device: c.device, length, end: offset + c.size },
      });
    }
    out.push({ device: c.device, offset, size: c.size, isFile: dev?.isFile ?? true });
  }
  if (redundant) {
    const [a, b] = out as [ResolvedCopy, ResolvedCopy];
    if (path.resolve(a.device) === path.resolve(b.device) && a.offset < b.offset + b.size && b.offset < a.offset + a.size) {
      throw new EnvGeometryError(`the two environment copies overlap in ${a.device} (offsets ${a.offset} and ${b.offset}, size ${a.size})`);
    }
  }
  return out;
}
