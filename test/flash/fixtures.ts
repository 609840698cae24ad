// Test helpers for flashing: sparse images with known data ranges, a bmap writer in
// bmaptool's 2.0 format, and FileSystem wrappers that record or corrupt writes.

import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import type { FileHandle, FileStat, FileSystem } from '../../src/platform/fs.js';
import { realFs } from '../../src/platform/fs.js';

export interface Extent {
  offset: number;
  data: Buffer;
}

/** Deterministic non-zero bytes (a zero byte here and there is fine; whole zero blocks are not). */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = (x & 0xff) | 1;
  }
  return b;
}

/** A sparse file of `size` bytes holding `extents`, everything else a hole. */
export async function makeSparseImage(file: string, size: number, extents: Extent[]): Promise<Buffer> {
  const fh = await fsp.open(file, 'w');
  await fh.truncate(size);
  for (const e of extents) await fh.write(e.data, 0, e.data.length, e.offset);
  await fh.close();
  return fsp.readFile(file);
}

/** bmaptool 2.0 XML for an image, mapping every block that is not all zero. */
export function makeBmap(image: Buffer, blockSize = 4096): string {
  const blocks = Math.ceil(image.length / blockSize);
  const zero = Buffer.alloc(blockSize);
  const ranges: Array<[number, number]> = [];
  for (let b = 0; b < blocks; b++) {
    const slice = image.subarray(b * blockSize, Math.min((b + 1) * blockSize, image.length));
    if (slice.equals(zero.subarray(0, slice.length))) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === b - 1) last[1] = b;
    else ranges.push([b, b]);
  }
  const mapped = ranges.reduce((n, [a, z]) => n + z - a + 1, 0);
  const lines = ranges.map(([a, z]) => {
    const sum = createHash('sha256').update(image.subarray(a * blockSize, Math.min((z + 1) * blockSize, image.length))).digest('hex');
    return `        <Range chksum="${sum}"> ${a === z ? a : `${a}-${z}`} </Range>`;
  });
  const body = (fileSum: string): string =>
    [
      '<?xml version="1.0" ?>',
      '<bmap version="2.0">',
      `    <ImageSize> ${image.length} </ImageSize>`,
      `    <BlockSize> ${blockSize} </BlockSize>`,
      `    <BlocksCount> ${blocks} </BlocksCount>`,
      `    <MappedBlocksCount> ${mapped} </MappedBlocksCount>`,
      '    <ChecksumType> sha256 </ChecksumType>',
      `    <BmapFileChecksum> ${fileSum} </BmapFileChecksum>`,
      '    <BlockMap>',
      ...lines,
      '    </BlockMap>',
      '</bmap>',
      '',
    ].join('\n');
  const zeros = '0'.repeat(64);
  return body(createHash('sha256').update(body(zeros)).digest('hex'));
}

export interface WriteRecord {
  file: string;
  position: number;
  length: number;
}

export interface WrapOptions {
  /** Called for each write; may return altered bytes (a fault) to store instead. */
  onWrite?: (rec: WriteRecord, data: Uint8Array) => Uint8Array | void;
  /** Files to present as block devices. */
  blockDevices?: Set<string>;
}

/** realFs with writes recorded (and optionally corrupted), and chosen files shown as block devices. */
export function wrapFs(opts: WrapOptions = {}): FileSystem & { writes: WriteRecord[] } {
  const writes: WriteRecord[] = [];
  const asBlock = (file: string, st: FileStat): FileStat => (opts.blockDevices?.has(file) ? { ...st, isFile: false, isBlockDevice: true, size: 0 } : st);
  return {
    ...realFs,
    writes,
    stat: async (file) => asBlock(file, await realFs.stat(file)),
    async open(file, mode, perm) {
      const inner = await realFs.open(file, mode, perm);
      const handle: FileHandle = {
        read: (into, offset, length, position) => inner.read(into, offset, length, position),
        async write(data, position) {
          const rec = { file, position, length: data.length };
          writes.push(rec);
          const stored = opts.onWrite?.(rec, data) ?? data;
          await inner.write(stored, position);
        },
        datasync: () => inner.datasync(),
        sync: () => inner.sync(),
        truncate: (n) => inner.truncate(n),
        stat: async () => asBlock(file, await inner.stat()),
        close: () => inner.close(),
      };
      return handle;
    },
  };
}
