// SHA-256 while copying: a pass-through Transform that hashes and counts what flows through,
// so a payload is hashed on its way to the disk or the tar instead of in a second read.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export class Sha256PassThrough extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private hex: string | undefined;
  /** Bytes seen so far. */
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    cb();
  }

  /** Lowercase hex digest; available once the stream has ended. */
  digest(): string {
    if (this.hex === undefined) throw new Error('Sha256PassThrough.digest() called before the stream ended');
    return this.hex;
  }
}
