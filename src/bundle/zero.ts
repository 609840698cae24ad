// All-zero detection and the CRC-32 of zero runs. Sparse images are mostly zeros, so both the
// writer and the checker skip the per-byte CRC work for them: the CRC of N zero bytes depends
// on N only, and is computed once per length.

import { crc32 } from '../crypto/crc.js';

const ZEROS = Buffer.alloc(64 * 1024);
const zeroCrcs = new Map<number, number>();

/** True when every byte is 0 (memcmp against a zero page, not a JS loop). */
export function isAllZero(buf: Uint8Array): boolean {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let at = 0; at < b.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - at);
    if (!b.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** CRC-32 of `length` zero bytes, continuing from `seed` like crc32(). */
export function zeroCrc(length: number, seed = 0): number {
  if (seed === 0) {
    const known = zeroCrcs.get(length);
    if (known !== undefined) return known;
  }
  let c = seed;
  for (let left = length; left > 0; left -= ZEROS.length) c = crc32(ZEROS.subarray(0, Math.min(left, ZEROS.length)), c);
  if (seed === 0) zeroCrcs.set(length, c);
  return c;
}
