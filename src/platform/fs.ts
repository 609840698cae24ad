// The file-system seam. Every call that changes durable state (open for write, write, fsync,
// fdatasync, rename, unlink, symlink) goes through a `FileSystem`, so a test can count them and
// cut power at any one of them (see test/powercut). Reads go through it too, so a simulated
// device sees exactly what survived. `realFs` is the only implementation under src/.

import * as fsp from 'node:fs/promises';
import { constants as C } from 'node:fs';
import * as path from 'node:path';

export interface FileStat {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isBlockDevice: boolean;
  isCharacterDevice: boolean;
  isSymbolicLink: boolean;
  mode: number;
  /** Identity, so two paths to one file or device can be recognised as the same. */
  dev: number;
  ino: number;
  rdev: number;
}

export interface FileHandle {
  /** Reads up to `length` bytes at `position`; returns how many were read (0 at the end). */
  read(into: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `data` at `position` (loops over short writes). */
  write(data: Uint8Array, position: number): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<FileStat>;
  close(): Promise<void>;
}

export type OpenMode =
  | 'read' // O_RDONLY
  | 'update' // O_RDWR, must exist (block devices, slot files)
  | 'create' // O_RDWR | O_CREAT
  | 'truncate' // O_RDWR | O_CREAT | O_TRUNC
  | 'exclusive'; // O_RDWR | O_CREAT | O_EXCL

export interface FileSystem {
  open(file: string, mode: OpenMode, perm?: number): Promise<FileHandle>;
  readFile(file: string): Promise<Buffer>;
  stat(file: string): Promise<FileStat>;
  lstat(file: string): Promise<FileStat>;
  exists(file: string): Promise<boolean>;
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>; // recursive, fine if it exists
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>; // fine if it is already gone
  rmrf(file: string): Promise<void>;
  symlink(target: string, file: string): Promise<void>;
  readlink(file: string): Promise<string>;
  /** fsync of a directory, so a rename or create in it is durable. */
  syncDir(dir: string): Promise<void>;
}

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: C.O_RDONLY,
  update: C.O_RDWR,
  create: C.O_RDWR | C.O_CREAT,
  truncate: C.O_RDWR | C.O_CREAT | C.O_TRUNC,
  exclusive: C.O_RDWR | C.O_CREAT | C.O_EXCL,
};

function toStat(s: import('node:fs').Stats): FileStat {
  return {
    size: s.size,
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isBlockDevice: s.isBlockDevice(),
    isCharacterDevice: s.isCharacterDevice(),
    isSymbolicLink: s.isSymbolicLink(),
    mode: s.mode,
    dev: s.dev,
    ino: s.ino,
    rdev: s.rdev,
  };
}

class RealFileHandle implements FileHandle {
  constructor(private readonly fh: fsp.FileHandle) {}

  async read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.fh.read(into, offset, length, position);
    return bytesRead;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      if (bytesWritten <= 0) throw new Error(`short write at ${position + done}`);
      done += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }

  async stat(): Promise<FileStat> {
    return toStat(await this.fh.stat());
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export const realFs: FileSystem = {
  async open(file, mode, perm = 0o644) {
    return new RealFileHandle(await fsp.open(file, OPEN_FLAGS[mode], perm));
  },
  readFile: (file) => fsp.readFile(file),
  stat: async (file) => toStat(await fsp.stat(file)),
  lstat: async (file) => toStat(await fsp.lstat(file)),
  async exists(file) {
    try {
      await fsp.lstat(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  },
  readdir: (dir) => fsp.readdir(dir),
  async mkdir(dir) {
    await fsp.mkdir(dir, { recursive: true });
  },
  rename: (from, to) => fsp.rename(from, to),
  async unlink(file) {
    try {
      await fsp.unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  },
  rmrf: (file) => fsp.rm(file, { recursive: true, force: true }),
  symlink: (target, file) => fsp.symlink(target, file),
  readlink: (file) => fsp.readlink(file),
  async syncDir(dir) {
    const fh = await fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/**
 * Replace `file` with `data` so that a power cut leaves either the old or the new content:
 * write a temporary sibling, fsync it, rename over, fsync the directory.
 */
export async function writeFileAtomic(fs: FileSystem, file: string, data: Uint8Array | string, perm = 0o644): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp`);
  const fh = await fs.open(tmp, 'truncate', perm);
  try {
    await fh.write(bytes, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  await fs.syncDir(dir);
}

/** Reads a whole small file, or returns undefined when it does not exist. */
export async function readFileIfExists(fs: FileSystem, file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
