// CRC-32 of one chunk, on the hot path of every frame. Node 20.15+ has a native zlib.crc32
// (about 3x the crc-32 package here); devices run Node 18, where crypto/'s crc32 serves.

import * as zlib from 'node:zlib';
import { crc32 as portableCrc32 } from '../crypto/crc.js';

type NativeCrc = (data: Uint8Array, value?: number) => number;
const native = (zlib as unknown as { crc32?: NativeCrc }).crc32;

export function crc32(data: Uint8Array): number {
  return native ? native(data) >>> 0 : portableCrc32(data);
}
