// CRC-32 (IEEE, as zlib and the manifest's chunk table use) of one chunk. Node 20.15+ has a
// native zlib.crc32; devices run Node 18, so the crc-32 package (about 2 GB/s here) backs it.

import * as zlib from 'node:zlib';
import CRC32 from 'crc-32';

type NativeCrc = (data: Uint8Array, value?: number) => number;
const native = (zlib as unknown as { crc32?: NativeCrc }).crc32;

export function crc32(data: Uint8Array): number {
  if (native) return native(data) >>> 0;
  return CRC32.buf(data) >>> 0;
}
