// Whole-bundle checks for operators: `bundle verify` (signature, every payload's SHA-256 and
// every chunk's CRC-32 against the chunk table) and `bundle inspect` (read the manifest
// without a key). Both stream: one chunk of each payload in memory at a time.

import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from '../crypto/crc.js';
import { ChunkTable, parseManifest, type Manifest, type PayloadEntry } from './manifest.js';
import { parseSignatureFile, type SignatureFile } from './signature.js';
import { DigestError } from './errors.js';
import { isAllZero, zeroCrc } from './zero.js';
import { openBundle, readHeaderEntries, type OpenOptions } from './open.js';
import { StrictTarReader } from './tar-reader.js';

/** Checks each chunk's CRC-32 and zero flag as the payload streams past. */
export class ChunkTableChecker extends Writable {
  private readonly table: ChunkTable;
  private index = 0;
  private filled = 0;
  private crc = 0;
  private zero = true;

  constructor(private readonly entry: PayloadEntry) {
    super({ highWaterMark: 256 * 1024 });
    this.table = new ChunkTable(entry);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      let at = 0;
      while (at < chunk.length) {
        const want = this.table.length(this.index) - this.filled;
        if (want <= 0) throw new DigestError(`payload ${this.entry.name}: more bytes than its chunk table covers`);
        const piece = chunk.subarray(at, at + want);
        if (this.zero && !isAllZero(piece)) {
          // First non-zero bytes of this chunk: catch up on the zeros skipped so far.
          this.zero = false;
          this.crc = zeroCrc(this.filled);
        }
        if (!this.zero) this.crc = crc32(piece, this.crc);
        this.filled += piece.length;
        at += piece.length;
        if (this.filled === this.table.length(this.index)) this.closeChunk();
      }
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb(this.index === this.table.count ? null : new DigestError(`payload ${this.entry.name}: ended at chunk ${this.index} of ${this.table.count}`));
  }

  private closeChunk(): void {
    const i = this.index;
    if (this.zero) this.crc = zeroCrc(this.filled);
    if (this.crc >>> 0 !== this.table.crc(i)) {
      throw new DigestError(`payload ${this.entry.name}: chunk ${i} has CRC-32 ${(this.crc >>> 0).toString(16)}, chunk table says ${this.table.crc(i).toString(16)}`, {
        details: { payload: this.entry.name, chunk: i },
      });
    }
    if (this.zero !== this.table.isZero(i)) {
      throw new DigestError(`payload ${this.entry.name}: chunk ${i} is ${this.zero ? '' : 'not '}all zero, chunk table says otherwise`, { details: { payload: this.entry.name, chunk: i } });
    }
    this.index++;
    this.filled = 0;
    this.crc = 0;
    this.zero = true;
  }
}

export interface VerifiedBundle {
  manifest: Manifest;
  signerKeyId: string;
  payloads: { name: string; size: number; sha256: string }[];
}

/** Verifies signature, trust, expiry, tar structure, every digest and every chunk CRC. */
export async function verifyBundle(input: Readable, opts: OpenOptions, onBytes?: (n: number) => void): Promise<VerifiedBundle> {
  const bundle = await openBundle(input, opts);
  const checked: VerifiedBundle['payloads'] = [];
  try {
    for await (const { entry, stream } of bundle.payloads()) {
      if (onBytes) stream.on('data', (c: Buffer) => onBytes(c.length));
      await pipeline(stream, new ChunkTableChecker(entry));
      checked.push({ name: entry.name, size: entry.size, sha256: entry.sha256 });
    }
  } finally {
    await bundle.close();
  }
  return { manifest: bundle.manifest, signerKeyId: bundle.signer.keyId, payloads: checked };
}

export interface BundleHeader {
  manifest: Manifest;
  manifestBytes: Buffer;
  signature: SignatureFile;
}

/** Reads and parses manifest and signature WITHOUT verifying them, for display only. */
export async function readBundleHeader(input: Readable): Promise<BundleHeader> {
  const reader = new StrictTarReader(input);
  try {
    const { manifestBytes, signatureBytes } = await readHeaderEntries(reader);
    return { manifest: parseManifest(manifestBytes), manifestBytes, signature: parseSignatureFile(signatureBytes) };
  } finally {
    reader.destroy();
  }
}
