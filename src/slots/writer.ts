// Writing a payload into a slot: positioned writes through the FileSystem seam, buffers of a
// chosen size, fdatasync before anything counts as written, and a guard that refuses to open
// the booted slot. Shared by the local install (a stream) and the MQTT download (chunks).

import type { SlotDevice } from '../board/profile.js';
import type { FileHandle, FileSystem } from '../platform/fs.js';
import { ActiveSlotError, SlotTooSmallError, SlotWriteError } from './errors.js';
import { sameStorage, slotCapacity } from './device.js';

const ZEROS = new Uint8Array(1024 * 1024);

export class SlotWriter {
  private constructor(
    private readonly fh: FileHandle,
    readonly device: string,
    readonly capacity: number,
  ) {}

  /** Opens `target` for writing; refuses when it is (or aliases) the booted slot's device. */
  static async open(fs: FileSystem, target: SlotDevice, booted: SlotDevice): Promise<SlotWriter> {
    if (await sameStorage(fs, target.device, booted.device)) {
      throw new ActiveSlotError(`refusing to write ${target.device}: it is the booted slot`, { details: { device: target.device } });
    }
    const capacity = await slotCapacity(fs, target);
    try {
      const fh = await fs.open(target.device, target.type === 'file' ? 'create' : 'update', 0o600);
      return new SlotWriter(fh, target.device, capacity);
    } catch (cause) {
      throw new SlotWriteError(`cannot open slot device ${target.device}`, { cause });
    }
  }

  checkFits(size: number): void {
    if (size > this.capacity) {
      throw new SlotTooSmallError(`payload of ${size} bytes does not fit ${this.device} (${this.capacity} bytes)`, {
        details: { size, capacity: this.capacity },
      });
    }
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.checkFits(position + data.length);
    try {
      await this.fh.write(data, position);
    } catch (cause) {
      throw new SlotWriteError(`writing ${data.length} bytes at ${position} of ${this.device}`, { cause });
    }
  }

  async writeZeros(position: number, length: number): Promise<void> {
    for (let done = 0; done < length; ) {
      const n = Math.min(ZEROS.length, length - done);
      await this.write(ZEROS.subarray(0, n), position + done);
      done += n;
    }
  }

  /** Reads `length` bytes at `position` back through the same handle (chunks already written). */
  async read(position: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    try {
      while (got < length) {
        const n = await this.fh.read(out, got, length - got, position + got);
        if (n === 0) break;
        got += n;
      }
    } catch (cause) {
      throw new SlotWriteError(`reading ${length} bytes at ${position} of ${this.device}`, { cause });
    }
    if (got < length) throw new SlotWriteError(`${this.device} ends at ${position + got}, reading ${length} bytes at ${position}`);
    return out;
  }

  async datasync(): Promise<void> {
    try {
      await this.fh.datasync();
    } catch (cause) {
      throw new SlotWriteError(`fdatasync of ${this.device}`, { cause });
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export interface WriteStreamOptions {
  bufferSize: number;
  expectedSize: number;
  /** Positioned writes overlapping with reading the input (default 4). */
  writesInFlight?: number;
  onProgress?: (written: number) => void;
  /**
   * Called with a position once every byte before it is written and fdatasynced, so a
   * read-back can start behind the writer. With it, writeStream syncs every `syncEvery` bytes
   * (default 32 MiB) while later writes continue; the final position is reported after the
   * final sync.
   */
  onDurable?: (position: number) => void;
  syncEvery?: number;
}

export const DEFAULT_SYNC_EVERY = 32 * 1024 * 1024;

/**
 * Positioned writes of whole buffers, up to `writesInFlight` at once, with an fdatasync every
 * `syncEvery` bytes that does not hold up the writes after it. Shared by writeStream (pieces of
 * a stream, copied into buffers) and copyRange (buffers read straight from a file).
 */
class PipelinedWrites {
  private readonly limit: number;
  private readonly syncEvery: number;
  private readonly inflight: Promise<void>[] = [];
  private failed: unknown;
  private done = 0;
  private nextSync: number;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly writer: SlotWriter,
    private readonly opts: WriteStreamOptions,
    /** Called with a buffer once it is written, so it can be used again. */
    private readonly release: (data: Buffer) => void,
  ) {
    this.limit = Math.max(1, opts.writesInFlight ?? 4);
    this.syncEvery = opts.onDurable ? Math.max(opts.bufferSize, opts.syncEvery ?? DEFAULT_SYNC_EVERY) : Number.POSITIVE_INFINITY;
    this.nextSync = this.syncEvery;
  }

  async write(data: Buffer, at: number): Promise<void> {
    if (this.inflight.length >= this.limit) await this.inflight.shift();
    if (this.failed) throw this.failed;
    const p = this.writer.write(data, at).then(
      () => {
        this.done += data.length;
        this.opts.onProgress?.(this.done);
        this.release(data);
      },
      (err: unknown) => {
        this.failed ??= err;
      },
    );
    this.inflight.push(p);
    const end = at + data.length;
    if (end >= this.nextSync && !this.syncing) {
      // Everything below `end` is in flight now; sync once it has landed, without holding up
      // the writes after it (fdatasync covers what was written before it was called).
      this.nextSync = end + this.syncEvery;
      this.syncing = Promise.all(this.inflight)
        .then(async () => {
          if (this.failed) return;
          await this.writer.datasync();
          this.opts.onDurable?.(end);
        })
        .catch((err: unknown) => {
          this.failed ??= err;
        })
        .finally(() => (this.syncing = undefined));
    }
  }

  /** Waits for every write and sync; never leaves one running behind the caller's back (it closes the file next). */
  async settle(): Promise<void> {
    await Promise.all(this.inflight);
    await this.syncing;
  }

  /** After settle(): the first failure, or the final fdatasync and the last durable position. */
  async finish(position: number): Promise<number> {
    if (this.failed) throw this.failed;
    await this.writer.datasync();
    this.opts.onDurable?.(position);
    return position;
  }
}

/**
 * Copies a stream into the slot from offset 0 in writes of `bufferSize` bytes, then
 * fdatasyncs. Up to `writesInFlight` positioned writes overlap with reading and hashing the
 * input, each from its own buffer; buffers are reused once written, so the memory used is
 * (writesInFlight + 1) buffers whatever the size. Returns the number of bytes written.
 */
export async function writeStream(writer: SlotWriter, input: AsyncIterable<Uint8Array>, opts: WriteStreamOptions): Promise<number> {
  writer.checkFits(opts.expectedSize);
  const spare: Buffer[] = [];
  const writes = new PipelinedWrites(writer, opts, (data) => {
    if (data.length === opts.bufferSize) spare.push(data);
  });
  let buf: Buffer = Buffer.allocUnsafe(opts.bufferSize);
  let fill = 0;
  let position = 0;
  try {
    for await (const piece of input) {
      let offset = 0;
      while (offset < piece.length) {
        const n = Math.min(piece.length - offset, buf.length - fill);
        buf.set(piece.subarray(offset, offset + n), fill);
        fill += n;
        offset += n;
        if (fill === buf.length) {
          await writes.write(buf, position);
          position += fill;
          fill = 0;
          buf = spare.pop() ?? Buffer.allocUnsafe(opts.bufferSize);
        }
      }
    }
    if (fill > 0) {
      await writes.write(buf.subarray(0, fill), position);
      position += fill;
    }
  } finally {
    await writes.settle();
  }
  return writes.finish(position);
}

/** Where copyRange reads: `length` bytes of an open file from `offset`. */
export interface SourceRange {
  handle: FileHandle;
  offset: number;
  length: number;
  /** The error for a source that ends before `offset + length` (it changed under the reader). */
  truncated: (missing: number) => Error;
}

/**
 * Copies a range of a file (a payload inside a bundle file) into the slot from offset 0: each
 * buffer is read straight from the file and written as it is, with no stream and no copy in
 * between, the next read overlapping the writes in flight. Buffers come from a pool of
 * (writesInFlight + 1) and are reused, so memory is flat in the size. Syncs and durable
 * positions as writeStream. Returns the number of bytes written.
 */
export async function copyRange(writer: SlotWriter, source: SourceRange, opts: WriteStreamOptions): Promise<number> {
  writer.checkFits(opts.expectedSize);
  const pool: Buffer[] = [];
  const waiting: ((b: Buffer) => void)[] = [];
  const writes = new PipelinedWrites(writer, opts, (data) => {
    const next = waiting.shift();
    if (next) next(data);
    else pool.push(data);
  });
  const buffers = Math.max(1, opts.writesInFlight ?? 4) + 1;
  for (let i = 0; i < buffers; i++) pool.push(Buffer.allocUnsafe(opts.bufferSize));
  const take = (): Promise<Buffer> => {
    const b = pool.pop();
    return b ? Promise.resolve(b) : new Promise((resolve) => waiting.push(resolve));
  };
  let position = 0;
  try {
    while (position < source.length) {
      const buf = await take();
      const want = Math.min(buf.length, source.length - position);
      let got = 0;
      while (got < want) {
        const n = await source.handle.read(buf, got, want - got, source.offset + position + got);
        if (n === 0) throw source.truncated(source.length - position - got);
        got += n;
      }
      await writes.write(got === buf.length ? buf : buf.subarray(0, got), position);
      position += got;
    }
  } finally {
    await writes.settle();
  }
  return writes.finish(position);
}
