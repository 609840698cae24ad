// The received-chunk bitmap on disk: which chunks of a release are durable on the target, so
// a restarted or power-cut device asks only for the rest. Written with writeFileAtomic (temp
// file, fsync, rename, directory fsync) and sealed with a CRC-32, so a torn file is detected.

import * as path from 'node:path';
import { readFileIfExists, writeFileAtomic, type FileSystem } from '../platform/fs.js';
import { Bitmap } from './bitmap.js';
import { crc32 } from './crc.js';
import { releaseIdBytes } from './frame.js';

const MAGIC = Buffer.from('SFBM', 'latin1');
const VERSION = 1;

export function bitmapPath(dataDir: string, releaseId: string): string {
  return path.join(dataDir, `transfer-${releaseId}.bitmap`);
}

/** Shape of a release as the store sees it: chunk count and size per payload index. */
export interface StoreShape {
  releaseId: string;
  payloads: { index: number; count: number; chunkSize: number }[];
}

export function encodeBitmaps(shape: StoreShape, maps: Map<number, Bitmap>): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(20);
  MAGIC.copy(head, 0);
  head.writeUInt8(VERSION, 4);
  releaseIdBytes(shape.releaseId).copy(head, 8);
  head.writeUInt32BE(shape.payloads.length, 16);
  parts.push(head);
  for (const p of shape.payloads) {
    const h = Buffer.alloc(12);
    h.writeUInt32BE(p.index, 0);
    h.writeUInt32BE(p.count, 4);
    h.writeUInt32BE(p.chunkSize, 8);
    parts.push(h, Buffer.from(maps.get(p.index)!.bytes));
  }
  const body = Buffer.concat(parts);
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([body, tail]);
}

/** Decodes a stored bitmap; returns a reason string instead when it does not fit `shape`. */
export function decodeBitmaps(shape: StoreShape, raw: Buffer): Map<number, Bitmap> | string {
  if (raw.length < 24) return 'file is too short';
  const body = raw.subarray(0, raw.length - 4);
  if (crc32(body) !== raw.readUInt32BE(raw.length - 4)) return 'CRC-32 does not match (torn or damaged file)';
  if (Buffer.compare(body.subarray(0, 4), MAGIC) !== 0 || body.readUInt8(4) !== VERSION) return 'not a version 1 bitmap file';
  if (body.toString('hex', 8, 16) !== shape.releaseId) return 'file belongs to another release';
  if (body.readUInt32BE(16) !== shape.payloads.length) return 'payload count differs';
  const maps = new Map<number, Bitmap>();
  let at = 20;
  for (const p of shape.payloads) {
    const bytes = Math.ceil(p.count / 8);
    if (at + 12 + bytes > body.length) return 'file is truncated';
    if (body.readUInt32BE(at) !== p.index || body.readUInt32BE(at + 4) !== p.count || body.readUInt32BE(at + 8) !== p.chunkSize) {
      return `payload ${p.index} has another chunk layout`;
    }
    maps.set(p.index, new Bitmap(p.count, body.subarray(at + 12, at + 12 + bytes)));
    at += 12 + bytes;
  }
  return at === body.length ? maps : 'trailing bytes';
}

export class BitmapStore {
  readonly file: string;

  constructor(
    private readonly fs: FileSystem,
    dataDir: string,
    private readonly shape: StoreShape,
  ) {
    this.file = bitmapPath(dataDir, shape.releaseId);
  }

  /**
   * The durable chunks recorded for this release. A missing file means nothing is durable; a
   * damaged one is reported through `onDiscard` and also treated as nothing durable (the
   * documented fallback: fetching again is always safe, trusting a bad bitmap is not).
   */
  async load(onDiscard: (reason: string) => void): Promise<Map<number, Bitmap>> {
    const raw = await readFileIfExists(this.fs, this.file);
    if (raw) {
      const maps = decodeBitmaps(this.shape, raw);
      if (typeof maps !== 'string') return maps;
      onDiscard(`${this.file}: ${maps}`);
    }
    return new Map(this.shape.payloads.map((p) => [p.index, new Bitmap(p.count)]));
  }

  async save(maps: Map<number, Bitmap>): Promise<void> {
    await this.fs.mkdir(path.dirname(this.file));
    await writeFileAtomic(this.fs, this.file, encodeBitmaps(this.shape, maps));
  }
}

/** Forgets a release's transfer state (the agent calls this once the slot is installed or abandoned). */
export async function removeTransferState(fs: FileSystem, dataDir: string, releaseId: string): Promise<void> {
  await fs.unlink(bitmapPath(dataDir, releaseId));
}
