// `slotflip flash IMAGE --to TARGET`: copies a base image to a file or block device, skipping
// holes the way bmaptool does, then reads the written ranges back and compares SHA-256 digests.
// Holes come from a .bmap file when one is given or found, else from scanning for zero blocks.

import { createHash, type Hash } from 'node:crypto';
import type { FileHandle, FileSystem } from '../platform/fs.js';
import { IoError } from '../errors.js';
import { parseBmap, findBmap, type Bmap } from './bmap.js';
import { BmapError, FlashVerifyError } from './errors.js';
import { openTarget, type OpenTarget } from './target.js';

export type FlashPhase = 'write' | 'verify';

export interface FlashOptions {
  fs: FileSystem;
  image: string;
  target: string;
  /** 'auto' (default): use IMAGE.bmap if present; 'require': fail without one; 'none': scan
   * for zero blocks; any other string: that bmap file. */
  bmap?: string;
  verify?: boolean;
  /** Promise that a block device already reads as zero where the image has zero blocks. */
  assumeZeroed?: boolean;
  /** Granularity of the zero-block scan (bmaptool uses 4096). */
  blockSize?: number;
  bufferSize?: number;
  onProgress?: (phase: FlashPhase, done: number, total: number) => void;
  mountsFile?: string;
  sysBlockDir?: string;
}

export interface FlashReport {
  image: string;
  target: string;
  targetKind: 'file' | 'block';
  imageSize: number;
  method: 'bmap' | 'zero-scan';
  bmapFile: string | undefined;
  blockSize: number;
  /** Bytes of image data written. */
  dataBytes: number;
  /** Zero blocks written because the target was not known to be zero. */
  zeroBytesWritten: number;
  /** Bytes left untouched (holes). */
  skippedBytes: number;
  ranges: number;
  verifiedBytes: number;
  writeSeconds: number;
  verifySeconds: number;
}

/** Written ranges and the SHA-256 of the image bytes in each, for the read-back. */
class RangeLog {
  readonly starts: number[] = [];
  readonly lengths: number[] = [];
  readonly digests: Buffer[] = [];
  private open: { start: number; length: number; hash: Hash } | undefined;

  add(data: Uint8Array, position: number): void {
    if (this.open && this.open.start + this.open.length !== position) this.close();
    if (!this.open) this.open = { start: position, length: 0, hash: createHash('sha256') };
    this.open.hash.update(data);
    this.open.length += data.length;
  }

  close(): void {
    if (!this.open) return;
    this.starts.push(this.open.start);
    this.lengths.push(this.open.length);
    this.digests.push(this.open.hash.digest());
    this.open = undefined;
  }

  get count(): number {
    return this.starts.length;
  }
}

/** Reads exactly `length` bytes unless the file ends first; returns how many were read. */
async function readFully(h: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await h.read(buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function isZero(buf: Buffer, zeros: Buffer): boolean {
  return buf.equals(zeros.subarray(0, buf.length));
}

interface CopyState {
  src: FileHandle;
  dst: OpenTarget;
  log: RangeLog;
  buf: Buffer;
  report: FlashReport;
  progress: (done: number, total: number) => void;
}

async function put(s: CopyState, data: Buffer, position: number, zero: boolean): Promise<void> {
  try {
    await s.dst.handle.write(data, position);
  } catch (cause) {
    throw new IoError(`writing ${s.report.target} at ${position}`, { cause });
  }
  s.log.add(data, position);
  if (zero) s.report.zeroBytesWritten += data.length;
  else s.report.dataBytes += data.length;
}

/** Copies the ranges a bmap lists, checking each against the bmap's checksum. */
async function copyWithBmap(s: CopyState, map: Bmap, source: string): Promise<void> {
  const { imageSize, blockSize } = map;
  const total = map.ranges.reduce((n, r) => n + Math.min((r.last + 1) * blockSize, imageSize) - r.first * blockSize, 0);
  let done = 0;
  for (const r of map.ranges) {
    const start = r.first * blockSize;
    const end = Math.min((r.last + 1) * blockSize, imageSize);
    const check = r.checksum && map.checksumType ? createHash(map.checksumType) : undefined;
    for (let pos = start; pos < end; ) {
      const want = Math.min(s.buf.length, end - pos);
      const n = await readFully(s.src, s.buf, want, pos);
      if (n !== want) throw new BmapError(`${source}: the image ends at ${pos + n}, the bmap maps blocks up to ${end}`);
      const chunk = s.buf.subarray(0, n);
      check?.update(chunk);
      await put(s, chunk, pos, false);
      pos += n;
      done += n;
      s.progress(done, total);
    }
    if (check) {
      const actual = check.digest('hex');
      if (actual !== r.checksum) {
        throw new BmapError(`${source}: blocks ${r.first}-${r.last} of the image do not match the bmap (${map.checksumType} ${actual}, bmap says ${r.checksum})`, {
          details: { first: r.first, last: r.last },
        });
      }
    }
  }
  s.report.skippedBytes = imageSize - total;
}

/** One pass over the image: non-zero blocks are written, zero blocks only when the target needs them. */
async function copyScanningZeros(s: CopyState, imageSize: number, blockSize: number, writeZeros: boolean): Promise<void> {
  const zeros = Buffer.alloc(blockSize);
  for (let pos = 0; pos < imageSize; ) {
    const want = Math.min(s.buf.length, imageSize - pos);
    const n = await readFully(s.src, s.buf, want, pos);
    if (n !== want) throw new IoError(`${s.report.image} ended at ${pos + n} while ${imageSize} bytes were expected`);
    let runStart = -1;
    let runZero = false;
    const flush = async (upto: number): Promise<void> => {
      if (runStart < 0) return;
      await put(s, s.buf.subarray(runStart, upto), pos + runStart, runZero);
      runStart = -1;
    };
    for (let off = 0; off < n; off += blockSize) {
      const blockEnd = Math.min(off + blockSize, n);
      const zero = isZero(s.buf.subarray(off, blockEnd), zeros);
      if (zero && !writeZeros) {
        await flush(off);
        s.report.skippedBytes += blockEnd - off;
        continue;
      }
      // Zero and data blocks are counted apart, so a run is one kind or the other.
      if (runStart >= 0 && runZero !== zero) await flush(off);
      if (runStart < 0) {
        runStart = off;
        runZero = zero;
      }
    }
    await flush(n);
    pos += n;
    s.progress(pos, imageSize);
  }
}

/** Reads every written range back from the target and compares its SHA-256. */
async function verifyRanges(s: CopyState, onProgress: (done: number, total: number) => void): Promise<number> {
  const total = s.log.lengths.reduce((a, b) => a + b, 0);
  let done = 0;
  for (let i = 0; i < s.log.count; i++) {
    const start = s.log.starts[i]!;
    const end = start + s.log.lengths[i]!;
    const hash = createHash('sha256');
    for (let pos = start; pos < end; ) {
      const want = Math.min(s.buf.length, end - pos);
      const n = await readFully(s.dst.handle, s.buf, want, pos);
      if (n !== want) throw new FlashVerifyError(`${s.report.target} ended at ${pos + n} during read-back`, { details: { offset: pos + n } });
      hash.update(s.buf.subarray(0, n));
      pos += n;
      done += n;
      onProgress(done, total);
    }
    if (!hash.digest().equals(s.log.digests[i]!)) {
      throw new FlashVerifyError(`read-back of ${s.report.target} bytes ${start}-${end - 1} differs from the image`, {
        details: { start, end, target: s.report.target },
      });
    }
  }
  return total;
}

async function loadBmap(fs: FileSystem, image: string, choice: string): Promise<{ map: Bmap; file: string } | undefined> {
  if (choice === 'none') return undefined;
  const file = choice === 'auto' || choice === 'require' ? await findBmap(fs, image) : choice;
  if (!file) {
    if (choice === 'require') throw new BmapError(`no bmap file next to ${image} (looked for ${image}.bmap and without extensions)`);
    return undefined;
  }
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (cause) {
    throw new BmapError(`cannot read bmap file ${file}`, { cause });
  }
  return { map: parseBmap(bytes, file), file };
}

export async function flashImage(opts: FlashOptions): Promise<FlashReport> {
  const fs = opts.fs;
  const verify = opts.verify ?? true;
  const progress = opts.onProgress ?? (() => {});
  let imageStat;
  try {
    imageStat = await fs.stat(opts.image);
  } catch (cause) {
    throw new IoError(`cannot read image ${opts.image}`, { cause });
  }
  if (!imageStat.isFile) throw new IoError(`${opts.image} is not a regular file`);
  const imageSize = imageStat.size;
  const bmap = await loadBmap(fs, opts.image, opts.bmap ?? 'auto');
  if (bmap && bmap.map.imageSize !== imageSize) {
    throw new BmapError(`${bmap.file} describes an image of ${bmap.map.imageSize} bytes, ${opts.image} has ${imageSize}`);
  }
  const blockSize = bmap?.map.blockSize ?? opts.blockSize ?? 4096;
  const bufferSize = Math.max(blockSize, Math.floor((opts.bufferSize ?? 1024 * 1024) / blockSize) * blockSize);

  const src = await fs.open(opts.image, 'read');
  let dst: OpenTarget | undefined;
  try {
    dst = await openTarget(opts.target, imageSize, { fs, mountsFile: opts.mountsFile, sysBlockDir: opts.sysBlockDir });
    const report: FlashReport = {
      image: opts.image,
      target: dst.device,
      targetKind: dst.kind,
      imageSize,
      method: bmap ? 'bmap' : 'zero-scan',
      bmapFile: bmap?.file,
      blockSize,
      dataBytes: 0,
      zeroBytesWritten: 0,
      skippedBytes: 0,
      ranges: 0,
      verifiedBytes: 0,
      writeSeconds: 0,
      verifySeconds: 0,
    };
    const s: CopyState = { src, dst, log: new RangeLog(), buf: Buffer.alloc(bufferSize), report, progress: (d, t) => progress('write', d, t) };
    const t0 = performance.now();
    if (bmap) await copyWithBmap(s, bmap.map, bmap.file);
    else await copyScanningZeros(s, imageSize, blockSize, !(dst.zeroed || opts.assumeZeroed === true));
    s.log.close();
    report.ranges = s.log.count;
    try {
      await dst.handle.datasync();
    } catch (cause) {
      throw new IoError(`flushing ${dst.device}`, { cause });
    }
    const t1 = performance.now();
    report.writeSeconds = (t1 - t0) / 1000;
    if (verify) {
      report.verifiedBytes = await verifyRanges(s, (d, t) => progress('verify', d, t));
      report.verifySeconds = (performance.now() - t1) / 1000;
    }
    return report;
  } finally {
    await src.close();
    await dst?.handle.close();
  }
}
