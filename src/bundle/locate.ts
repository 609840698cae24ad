// Random access into a bundle file: where each payload's bytes start, found by walking the
// tar headers (ustar, GNU base-256 sizes, pax `size`/`path` records). The publisher serves
// chunks from these offsets without unpacking the bundle.

import type { FileSystem, FileHandle } from '../platform/fs.js';
import { BundleFormatError } from './errors.js';
import { MANIFEST_ENTRY, PAYLOAD_PREFIX, SIGNATURE_ENTRY } from './open.js';

export interface LocatedEntry {
  name: string;
  offset: number;
  size: number;
}

function field(h: Buffer, start: number, len: number): string {
  const s = h.subarray(start, start + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** Largest pax extended header read (they hold a path and a size here). */
const MAX_PAX_BYTES = 64 * 1024;

function sizeField(h: Buffer): number {
  const raw = h.subarray(124, 136);
  if (raw[0]! & 0x80) {
    // GNU base-256: big-endian binary in the remaining bytes (a set sign bit means negative).
    if (raw[0]! & 0x40) throw new BundleFormatError('tar header has a negative size');
    let n = 0;
    for (let i = 1; i < 12; i++) n = n * 256 + raw[i]!;
    return n;
  }
  const text = field(h, 124, 12).trim();
  if (!/^[0-7]*$/.test(text)) throw new BundleFormatError(`tar header size ${JSON.stringify(text)} is not octal`);
  return text ? parseInt(text, 8) : 0;
}

/** The header checksum: the sum of all bytes with the checksum field read as spaces. */
export function checksumOk(h: Buffer): boolean {
  // Read as the install reader (tar-stream) reads it: the octal digits after any leading spaces
  // or NULs, up to the first other byte; the two must agree on which headers are good.
  const digits = /^[ \0]*([0-7]+)/.exec(h.toString('latin1', 148, 156));
  if (!digits) return false;
  const text = digits[1]!;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === parseInt(text, 8);
}

function paxRecords(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(data.toString('utf8', pos, space));
    if (!Number.isInteger(len) || len <= 0) throw new BundleFormatError('malformed pax header');
    const rec = data.toString('utf8', space + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = await fh.read(buf, done, length - done, position + done);
    if (n === 0) throw new BundleFormatError(`bundle ends at ${position + done} bytes inside a tar header`);
    done += n;
  }
  return buf;
}

/** Every regular entry of the tar with the offset of its data. */
export async function locateEntries(fs: FileSystem, file: string): Promise<LocatedEntry[]> {
  const fh = await fs.open(file, 'read');
  try {
    const total = (await fh.stat()).size;
    const entries: LocatedEntry[] = [];
    let pos = 0;
    let pax = new Map<string, string>();
    while (pos + 512 <= total) {
      const h = await readAt(fh, pos, 512);
      if (h.every((b) => b === 0)) break;
      if (!checksumOk(h)) throw new BundleFormatError(`tar header at ${pos} has a bad checksum`);
      const type = String.fromCharCode(h[156]!);
      let size = sizeField(h);
      const data = pos + 512;
      if (data + size > total) throw new BundleFormatError(`tar entry at ${pos} claims ${size} bytes; the file ends at ${total}`);
      if (type === 'x') {
        if (size > MAX_PAX_BYTES) throw new BundleFormatError(`pax header at ${pos} is ${size} bytes, more than ${MAX_PAX_BYTES}`);
        pax = paxRecords(await readAt(fh, data, size));
      } else if (type === 'g') {
        // Global pax header: nothing slotflip writes depends on it.
      } else {
        const prefix = field(h, 345, 155);
        let name = pax.get('path') ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
        if (pax.has('size')) {
          const text = pax.get('size')!;
          if (!/^\d+$/.test(text)) throw new BundleFormatError(`pax size ${JSON.stringify(text)} is not a number`);
          size = Number(text);
          if (data + size > total) throw new BundleFormatError(`tar entry at ${pos} claims ${size} bytes; the file ends at ${total}`);
        }
        if (type === '0' || type === '\0') entries.push({ name, offset: data, size });
        pax = new Map();
        name = '';
      }
      pos = data + Math.ceil(size / 512) * 512;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** Offsets of the manifest, the signature and each payload (by payload name). */
export async function locateBundle(fs: FileSystem, file: string): Promise<{ manifest: LocatedEntry; signature: LocatedEntry; payloads: Map<string, LocatedEntry> }> {
  const entries = await locateEntries(fs, file);
  const manifest = entries.find((e) => e.name === MANIFEST_ENTRY);
  const signature = entries.find((e) => e.name === SIGNATURE_ENTRY);
  if (!manifest || !signature) throw new BundleFormatError(`${file} lacks ${!manifest ? MANIFEST_ENTRY : SIGNATURE_ENTRY}`);
  const payloads = new Map<string, LocatedEntry>();
  for (const e of entries) if (e.name.startsWith(PAYLOAD_PREFIX)) payloads.set(e.name.slice(PAYLOAD_PREFIX.length), e);
  return { manifest, signature, payloads };
}
