// CRC-32 (IEEE 802.3, as zlib, U-Boot and the chunk table use it) over the crc-32 package,
// always as an unsigned 32-bit number (the package returns signed ints).

import CRC32 from 'crc-32';

/** CRC-32 of data; pass a previous result as `seed` to continue over more bytes. */
export function crc32(data: Uint8Array, seed = 0): number {
  return CRC32.buf(data, seed | 0) >>> 0;
}

/** Incremental CRC-32 for data that arrives in pieces. */
export class Crc32 {
  private crc = 0;

  update(data: Uint8Array): this {
    this.crc = crc32(data, this.crc);
    return this;
  }

  get value(): number {
    return this.crc >>> 0;
  }

  reset(): void {
    this.crc = 0;
  }
}
