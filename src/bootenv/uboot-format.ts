// The U-Boot environment image, byte for byte as U-Boot (env/common.c, tools/env/fw_env.c) and
// libubootenv lay it out: CRC-32 (little endian) over the whole data area, then in a redundant
// setup one flags byte, then `name=value\0`... `\0`, padded with zeros. Pure: no I/O here.
//
// Names and values are "binary strings" here (one char per byte, latin1), so bytes that are not
// UTF-8 survive a rewrite untouched; ./uboot.ts converts at the edge.

import { crc32 } from '../crypto/crc.js';
import { EnvFormatError, EnvTooLargeError } from './errors.js';

export { crc32 };

/** Bytes before the data area: crc32 (4), plus the flags byte of a redundant copy. */
export function headerSize(redundant: boolean): number {
  return redundant ? 5 : 4;
}

/** Serialises sorted entries into a data area of exactly `dataSize` bytes. */
export function encodeData(entries: Map<string, string>, dataSize: number): Buffer {
  let need = 1; // the empty entry that ends the list
  for (const [name, value] of entries) need += name.length + 1 + value.length + 1;
  if (need > dataSize) {
    throw new EnvTooLargeError(`environment needs ${need} bytes but its data area holds ${dataSize}`, { details: { need, dataSize } });
  }
  const data = Buffer.alloc(dataSize); // zero padding, as mkenvimage writes it by default
  let at = 0;
  for (const [name, value] of entries) {
    at += data.write(`${name}=${value}`, at, 'latin1') + 1;
  }
  return data;
}

/**
 * Parses a data area into entries. An entry without '=' is skipped and a later duplicate wins, as
 * in U-Boot's import and libubootenv; a list that runs off the end of the area is refused.
 */
export function decodeData(data: Uint8Array): Map<string, string> {
  const entries = new Map<string, string>();
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  for (;;) {
    if (at >= buf.length) throw new EnvFormatError('environment not terminated (no empty entry before the end of the data area)');
    if (buf[at] === 0) return entries;
    const end = buf.indexOf(0, at);
    if (end < 0) throw new EnvFormatError('environment not terminated (last entry runs off the end of the data area)');
    const line = buf.toString('latin1', at, end);
    const eq = line.indexOf('=');
    if (eq > 0) {
      const name = line.slice(0, eq);
      entries.delete(name); // keep the order of the last definition
      entries.set(name, line.slice(eq + 1));
    }
    at = end + 1;
  }
}

export interface DecodedCopy {
  crcOk: boolean;
  /** The flags byte (redundant copies only; 0 for a single copy). */
  flags: number;
  data: Buffer;
}

export function encodeImage(data: Buffer, redundant: boolean, flags = 0): Buffer {
  const h = headerSize(redundant);
  const image = Buffer.alloc(h + data.length);
  image.writeUInt32LE(crc32(data), 0);
  if (redundant) image[4] = flags & 0xff;
  data.copy(image, h);
  return image;
}

export function decodeImage(image: Buffer, redundant: boolean): DecodedCopy {
  const h = headerSize(redundant);
  const data = image.subarray(h);
  return { crcOk: image.readUInt32LE(0) === crc32(data), flags: redundant ? image[4]! : 0, data };
}

/**
 * Which of two redundant copies is current: the only valid one, or with both valid the newer by
 * flags, where 0 after 255 is newer (the counter wrapped); equal flags pick copy 0. Returns -1
 * when neither is valid. This is U-Boot's env_import_redund rule and libubootenv's.
 */
export function currentCopy(a: { crcOk: boolean; flags: number }, b: { crcOk: boolean; flags: number }): 0 | 1 | -1 {
  if (a.crcOk && !b.crcOk) return 0;
  if (!a.crcOk && b.crcOk) return 1;
  if (!a.crcOk && !b.crcOk) return -1;
  if (a.flags === 255 && b.flags === 0) return 1;
  if (b.flags === 255 && a.flags === 0) return 0;
  return b.flags > a.flags ? 1 : 0;
}

/** The flags byte of the next write: one more than the current copy's, 255 wraps to 0. */
export function nextFlags(current: number): number {
  return (current + 1) & 0xff;
}
