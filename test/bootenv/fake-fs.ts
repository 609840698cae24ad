// Test seams for the bootenv tests: a FileSystem over the real one that counts durable calls,
// can tear the next write (write only its first bytes, then fail, as a power cut would), and can
// present a regular file as a block device whose size comes from a fake sysfs.

import { realFs, type FileHandle, type FileSystem } from '../../src/platform/fs.js';

export interface FakeFs extends FileSystem {
  writes: { file: string; position: number; length: number }[];
  syncs: number;
  /** The next write puts only this many bytes down, then throws. */
  tearNextWrite(bytes: number): void;
  /** Makes `file` stat as a block device (rdev 8:16) whose sysfs size is its current length. */
  asBlockDevice(file: string): void;
  /** Fake sysfs attributes (path -> content); writes to them are logged in `sysfsWrites`. */
  sysfs: Map<string, string>;
  sysfsWrites: string[];
}

export function fakeFs(): FakeFs {
  let tear: number | undefined;
  const blockDevices = new Set<string>();
  const RDEV = 8 * 256 + 16;
  const fs: FakeFs = {
    ...realFs,
    writes: [],
    syncs: 0,
    sysfs: new Map(),
    sysfsWrites: [],
    tearNextWrite(bytes) {
      tear = bytes;
    },
    asBlockDevice(file) {
      blockDevices.add(file);
    },
    async stat(file) {
      const st = await realFs.stat(file);
      return blockDevices.has(file) ? { ...st, isFile: false, isBlockDevice: true, size: 0, rdev: RDEV } : st;
    },
    async readFile(file) {
      const attr = fs.sysfs.get(file);
      if (attr !== undefined) return Buffer.from(attr);
      if (file === '/sys/dev/block/8:16/size' && blockDevices.size) {
        const [dev] = [...blockDevices];
        return Buffer.from(`${(await realFs.stat(dev!)).size / 512}\n`);
      }
      return realFs.readFile(file);
    },
    async open(file, mode, perm) {
      if (fs.sysfs.has(file)) return sysfsHandle(fs, file);
      const inner = await realFs.open(file, mode, perm);
      const handle: FileHandle = {
        read: (into, offset, length, position) => inner.read(into, offset, length, position),
        async write(data, position) {
          fs.writes.push({ file, position, length: data.length });
          if (tear !== undefined) {
            const n = tear;
            tear = undefined;
            await inner.write(data.subarray(0, n), position);
            throw new Error('power cut (simulated)');
          }
          await inner.write(data, position);
        },
        datasync: async () => {
          fs.syncs++;
          await inner.datasync();
        },
        sync: async () => {
          fs.syncs++;
          await inner.sync();
        },
        truncate: (length) => inner.truncate(length),
        stat: () => inner.stat(),
        close: () => inner.close(),
      };
      return handle;
    },
  };
  return fs;
}

function sysfsHandle(fs: FakeFs, file: string): FileHandle {
  const unsupported = async (): Promise<never> => {
    throw new Error(`${file}: not supported by the fake sysfs`);
  };
  return {
    read: unsupported,
    async write(data) {
      fs.sysfs.set(file, Buffer.from(data).toString());
      fs.sysfsWrites.push(`${file}=${Buffer.from(data).toString()}`);
    },
    datasync: unsupported,
    sync: unsupported,
    truncate: unsupported,
    stat: unsupported,
    close: async () => {},
  };
}
