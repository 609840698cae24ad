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
 * Copies a stream into the slot from offset 0 in writes of `bufferSize` bytes, then
 * fdatasyncs. Up to `writesInFlight` positioned writes overlap with reading and hashing the
 * input, each from its own buffer; buffers are reused once written, so the memory used is
 * (writesInFlight + 1) buffers whatever the size. Returns the number of bytes written.
 */
export async function writeStream(writer: SlotWriter, input: AsyncIterable<Uint8Array>, opts: WriteStreamOptions): Promise<number> {
  writer.checkFits(opts.expectedSize);
  const limit = Math.max(1, opts.writesInFlight ?? 4);
  const syncEvery = opts.onDurable ? Math.max(opts.bufferSize, opts.syncEvery ?? DEFAULT_SYNC_EVERY) : Number.POSITIVE_INFINITY;
  const inflight: Promise<void>[] = [];
  const spare: Buffer[] = [];
  let failed: unknown;
  let buf: Buffer = Buffer.allocUnsafe(opts.bufferSize);
  let fill = 0;
  let position = 0;
  let done = 0;
  let nextSync = syncEvery;
  let syncing: Promise<void> | undefined;
  const flush = async (data: Buffer, at: number): Promise<void> => {
    if (inflight.length >= limit) await inflight.shift();
    if (failed) throw failed;
    const p = writer.write(data, at).then(
      () => {
        done += data.length;
        opts.onProgress?.(done);
        if (data.length === opts.bufferSize) spare.push(data);
      },
      (err: unknown) => {
        failed ??= err;
      },
    );
    inflight.push(p);
    const end = at + data.length;
    if (end >= nextSync && !syncing) {
      // Everything below `end` is in flight now; sync once it has landed, without holding up
      // the writes after it (fdatasync covers what was written before it was called).
      nextSync = end + syncEvery;
      syncing = Promise.all(inflight)
        .then(async () => {
          if (failed) return;
          await writer.datasync();
          opts.onDurable?.(end);
        })
        .catch((err: unknown) => {
          failed ??= err;
        })
        .finally(() => (syncing = undefined));
    }
  };
  try {
    for await (const piece of input) {
      let offset = 0;
      while (offset < piece.length) {
        const n = Math.min(piece.length - offset, buf.length - fill);
        buf.set(piece.subarray(offset, offset + n), fill);
        fill += n;
        offset += n;
        if (fill === buf.length) {
          await flush(buf, position);
          position += fill;
          fill = 0;
          buf = spare.pop() ?? Buffer.allocUnsafe(opts.bufferSize);
        }
      }
    }
    if (fill > 0) {
      await flush(buf.subarray(0, fill), position);
      position += fill;
    }
  } finally {
    // Never leave writes or a sync running behind the caller's back (it closes the file next).
    await Promise.all(inflight);
    await syncing;
  }
  if (failed) throw failed;
  await writer.datasync();
  opts.onDurable?.(position);
  return position;
}
