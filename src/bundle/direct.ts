// Payload offsets of a bundle file for the local install, so the rootfs can be copied into the
// slot with positioned reads instead of through the tar stream (decision D8). The stream reader
// (StrictTarReader over tar-stream, then openBundle's checks) stays the authority on what a
// bundle is: this walk only says "here are the payloads" for the plain layout `bundle create`
// writes (ustar headers, regular files, exactly the manifest's entries in order, zeros to the
// end), and says nothing (undefined) for anything else, which then goes the stream way and
// gets the stream's verdict. So it never accepts a bundle the stream reader would refuse; a
// fuzz test (test/fuzz/direct.test.ts) holds it to that.

import type { FileHandle, FileSystem } from '../platform/fs.js';
import type { Manifest } from './manifest.js';
import { MANIFEST_ENTRY, PAYLOAD_PREFIX, SIGNATURE_ENTRY } from './open.js';
import { checksumOk, readAt } from './locate.js';

export interface PayloadRange {
  offset: number;
  size: number;
}

const BLOCK = 512;
/** The stream reader insists on two zero blocks after the last entry. */
const END_OF_ARCHIVE = 1024;
/** Past the last entry, a longer tail than this is left to the stream reader to judge. */
const MAX_TAIL = 64 * 1024;
const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');

/**
 * An octal header field as tar-stream reads it (leading spaces, digits up to the first space,
 * leading NULs skipped, parseInt), or undefined unless the field is plainly digits and
 * NULs/spaces after them, so both readers surely agree on the number.
 */
function octal(h: Buffer, start: number, len: number): number | undefined {
  const text = h.toString('latin1', start, start + len);
  const m = /^([0-7]{1,12})[ \0]*$/.exec(text);
  return m ? parseInt(m[1]!, 8) : undefined;
}

/** The header of a plain ustar regular file: its name and size, or undefined for anything else. */
function plainHeader(h: Buffer): { name: string; size: number } | undefined {
  if (h[156] !== 0x30) return undefined; // '0': a regular file, nothing else (no pax, no GNU long names)
  if (!h.subarray(257, 263).equals(USTAR_MAGIC)) return undefined;
  if (h[345] !== 0) return undefined; // no ustar prefix
  if (!checksumOk(h)) return undefined;
  if (h[124]! & 0x80) return undefined; // base-256 size
  const size = octal(h, 124, 12);
  if (size === undefined) return undefined;
  const nul = h.indexOf(0);
  const raw = h.subarray(0, nul >= 0 && nul < 100 ? nul : 100);
  if (!/^[\x21-\x7e]+$/.test(raw.toString('latin1'))) return undefined; // plain ASCII names only
  return { name: raw.toString('latin1'), size };
}

/**
 * Where each payload of a bundle file lies, when the file is laid out exactly as `bundle create`
 * writes it around the manifest already read and verified (`manifestBytes`); undefined when it
 * is not, or cannot be read. The payload bytes themselves are not looked at: the caller proves
 * them against the manifest's digests.
 */
export async function directPayloads(fs: FileSystem, file: string, manifest: Manifest, manifestBytes: Buffer): Promise<Map<string, PayloadRange> | undefined> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(file, 'read');
    const total = (await fh.stat()).size;
    const expected = [MANIFEST_ENTRY, SIGNATURE_ENTRY, ...manifest.payloads.map((p) => PAYLOAD_PREFIX + p.name)];
    const payloads = new Map<string, PayloadRange>();
    let pos = 0;
    for (const [i, name] of expected.entries()) {
      const h = plainHeader(await readAt(fh, pos, BLOCK));
      if (!h || h.name !== name) return undefined;
      const offset = pos + BLOCK;
      if (offset + h.size > total) return undefined;
      if (i === 0) {
        // The manifest the walk found must be the one the stream reader verified.
        if (h.size !== manifestBytes.length) return undefined;
        const bytes = await readAt(fh, offset, h.size);
        if (!bytes.equals(manifestBytes)) return undefined;
      } else if (i >= 2) {
        const p = manifest.payloads[i - 2]!;
        if (h.size !== p.size) return undefined;
        payloads.set(p.name, { offset, size: h.size });
      }
      pos = offset + Math.ceil(h.size / BLOCK) * BLOCK;
    }
    // Nothing after the last entry but whole zero blocks, at least the end-of-archive marker
    // and not too many (tar-stream refuses a part block at the end).
    const tail = total - pos;
    if (tail < END_OF_ARCHIVE || tail > MAX_TAIL || tail % BLOCK !== 0) return undefined;
    const rest = await readAt(fh, pos, tail);
    if (rest.some((b) => b !== 0)) return undefined;
    return payloads;
  } catch {
    return undefined; // unreadable or short here: the stream reader says what is wrong
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
