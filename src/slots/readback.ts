// Read-back verification: after a slot's bytes are written and synced, read them again through
// the FileSystem seam and hash what the device returns; the digest must be the signed one.
// A SlotReadback can start on the synced front of a slot while later bytes are still being
// written. See docs/decisions.md (D8) for what this does and does not catch.

import type { FileHandle, FileSystem } from '../platform/fs.js';
import { IoError, SlotflipError } from '../errors.js';
import { ReadbackError } from './errors.js';
import { inlineSha256, type Sha256Sink } from './digest.js';

/**
 * Reads a slot back in order, in ranges the writer reports as durable (`advance`), hashing
 * on `sink` (this thread or a worker). Reading and hashing run behind the writer, never ahead
 * of a completed sync. Failures are held and reported by `finish`.
 */
export class SlotReadback {
  private fh: FileHandle | undefined;
  private verified = 0;
  private queued = 0;
  private work: Promise<void> = Promise.resolve();
  private failure: unknown;
  private stopped = false;

  constructor(
    private readonly fs: FileSystem,
    readonly device: string,
    readonly length: number,
    private readonly sink: Sha256Sink,
    private readonly onProgress?: (done: number) => void,
  ) {}

  /** Bytes [0, durable) of the slot are written and synced: read them back when the sink is free. */
  advance(durable: number): void {
    const to = Math.min(durable, this.length);
    if (to <= this.queued || this.stopped) return;
    this.queued = to;
    this.work = this.work.then(() => this.readTo(to));
  }

  /**
   * Everything is written and synced: reads back what is left and compares the digest of the
   * whole `length` with the signed one. Always releases the handle and the sink.
   */
  async finish(sha256: string): Promise<void> {
    try {
      this.advance(this.length);
      await this.work;
      if (this.failure) throw this.failure;
      if (this.verified < this.length) throw new ReadbackError(`${this.device}: read back ${this.verified} of ${this.length} bytes`);
      const got = await this.sink.digest().catch(hashFailed);
      if (got !== sha256) {
        throw new ReadbackError(`${this.device} reads back as sha256 ${got.slice(0, 16)}…, the manifest says ${sha256.slice(0, 16)}…`, {
          details: { device: this.device, expected: sha256, actual: got },
        });
      }
    } finally {
      await this.close();
    }
  }

  /** Stops reading (the write failed); waits for the read in progress, releases everything. */
  async abort(): Promise<void> {
    this.stopped = true;
    await this.close();
  }

  private async close(): Promise<void> {
    this.stopped = true;
    await this.work;
    const fh = this.fh;
    this.fh = undefined;
    await this.sink.close();
    await fh?.close();
  }

  private async readTo(to: number): Promise<void> {
    if (this.failure || this.stopped) return;
    try {
      this.fh ??= await this.fs.open(this.device, 'read');
      while (this.verified < to && !this.stopped) {
        const buf = await this.sink.acquire().catch(hashFailed);
        const want = Math.min(buf.length, to - this.verified);
        const got = await readFully(this.fh, buf, want, this.verified, this.device, this.length);
        try {
          this.sink.update(buf, got);
        } catch (err) {
          hashFailed(err);
        }
        this.verified += got;
        this.onProgress?.(this.verified);
      }
    } catch (err) {
      this.failure = err instanceof SlotflipError ? err : new ReadbackError(`reading back ${this.device} at ${this.verified}`, { cause: err });
    }
  }
}

/** The hash failed (its worker died): not the slot's fault, so not SF_ERR_READBACK. */
function hashFailed(cause: unknown): never {
  throw new IoError('hashing the read-back failed', { cause });
}

async function readFully(fh: FileHandle, buf: Buffer, want: number, at: number, device: string, length: number): Promise<number> {
  let got = 0;
  while (got < want) {
    const n = await fh.read(buf, got, want - got, at + got);
    if (n === 0) throw new ReadbackError(`${device} ends at ${at + got} bytes, ${length} expected`);
    got += n;
  }
  return got;
}

export async function readBackDigest(fs: FileSystem, device: string, length: number, bufferSize: number, onProgress?: (done: number) => void): Promise<string> {
  return rangeDigest(fs, device, 0, length, bufferSize, onProgress);
}

/** SHA-256 of `length` bytes of a file or device from `start`, read through the seam. */
export async function rangeDigest(fs: FileSystem, device: string, start: number, length: number, bufferSize: number, onProgress?: (done: number) => void): Promise<string> {
  const size = Math.max(4096, Math.min(bufferSize, length || 4096));
  // Two buffers: the next read runs in the thread pool while this one is hashed.
  const sink = inlineSha256(size, 2);
  const fh = await fs.open(device, 'read');
  try {
    let position = 0;
    let pending: Promise<[Buffer, number]> | undefined;
    const next = async (at: number): Promise<[Buffer, number]> => {
      const buf = await sink.acquire();
      return [buf, await readFully(fh, buf, Math.min(buf.length, length - at), start + at, device, start + length)];
    };
    if (length > 0) pending = next(0);
    while (pending) {
      const [buf, got] = await pending;
      position += got;
      pending = position < length ? next(position) : undefined;
      sink.update(buf, got);
      onProgress?.(position);
    }
    return await sink.digest();
  } finally {
    await sink.close();
    await fh.close();
  }
}

/** Hashes the first `length` bytes of the slot and compares with the signed digest. */
export async function verifySlot(fs: FileSystem, device: string, length: number, sha256: string, bufferSize: number): Promise<void> {
  const got = await readBackDigest(fs, device, length, bufferSize);
  if (got !== sha256) {
    throw new ReadbackError(`${device} reads back as sha256 ${got.slice(0, 16)}…, the manifest says ${sha256.slice(0, 16)}…`, {
      details: { device, expected: sha256, actual: got },
    });
  }
}
