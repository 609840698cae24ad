// Tar-aware mutators for the bundle fuzz tests. Random bytes in a tar header mostly just fail
// its checksum, so these edit one header field (name, size, type, link, magic, prefix...) to a
// value chosen to be interesting and then fix the checksum, which gets the edit past
// tar-stream to slotflip's own checks. Also: entry lists packed with tar-stream directly.

import fc from 'fast-check';
import * as tar from 'tar-stream';

/** Offsets of the headers of a (possibly damaged) ustar stream, walking sizes as written. */
export function headerOffsets(buf: Uint8Array): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos + 512 <= buf.length && out.length < 64) {
    const h = buf.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    out.push(pos);
    const text = Buffer.from(h.subarray(124, 136)).toString('latin1').replace(/\0.*$/s, '').trim();
    const size = parseInt(text || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) break;
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  prefix: [345, 155],
} as const;
type Field = keyof typeof FIELDS;

const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0');

/** Base-256 (GNU) size: 0x80 then a big-endian number in 11 bytes. */
function base256(n: bigint): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x80;
  for (let i = 11; i >= 1; i--) {
    b[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return b;
}

const NAMES = ['manifest.json', 'manifest.sig', 'payloads/rootfs', 'payloads/app', 'payloads/empty', 'payloads/', 'payloads/../rootfs', '../manifest.json', '/manifest.json', 'C:manifest.json', 'payloads\\rootfs', './manifest.json', 'payloads//rootfs', 'payloads/rootfs/', 'PaxHeader', '', '..'];
const TYPEFLAGS = ['0', '\0', '1', '2', '3', '4', '5', '6', '7', 'g', 'x', 'L', 'K', 'S', 'D', 'V', 'Z'];

/** A size field value, as data so a counterexample prints readably. */
export type SizeValue = { delta: number } | { octal: number } | { base256: bigint } | { text: string };

export interface HeaderEdit {
  header: number;
  field: Field;
  value: Buffer | SizeValue;
  fixChecksum: boolean;
}

const text = (s: string): Buffer => Buffer.from(s, 'latin1');

const sizeValue: fc.Arbitrary<SizeValue> = fc.oneof(
  fc.constantFrom(0, 1, -1, 511, 512, 513, -512, 4096).map((delta) => ({ delta })),
  fc.constantFrom(0, 1, 0o77777777777, 2 ** 31, 2 ** 20).map((n) => ({ octal: n })),
  fc.constantFrom(0n, 1n, 2n ** 33n, 2n ** 53n, 2n ** 60n, 2n ** 87n - 1n).map((n) => ({ base256: n })),
  fc.constantFrom('', ' ', '-1', '-1000', '-7777', 'zz', '0x10', '  12 ', '9').map((t) => ({ text: t })),
);

function sizeBytes(v: SizeValue, size: number): Buffer {
  if ('delta' in v) return text(octal(Math.max(0, size + v.delta), 12));
  if ('octal' in v) return text(octal(v.octal, 12));
  if ('base256' in v) return base256(v.base256);
  return text(v.text);
}

const fieldValue = (field: Field): fc.Arbitrary<Buffer | SizeValue> => {
  switch (field) {
    case 'name':
    case 'linkname':
    case 'prefix':
      return fc.oneof(fc.constantFrom(...NAMES).map(text), fc.string({ unit: 'binary', maxLength: 100 }).map((s) => Buffer.from(s)), fc.constant(text('a'.repeat(100))));
    case 'size':
      return sizeValue;
    case 'typeflag':
      return fc.oneof(fc.constantFrom(...TYPEFLAGS).map(text), fc.integer({ min: 0, max: 255 }).map((b) => Buffer.from([b])));
    case 'magic':
      return fc.constantFrom('ustar\0', 'ustar ', 'ustaR\0', '\0\0\0\0\0\0').map(text);
    case 'version':
      return fc.constantFrom('00', ' \0', 'xx').map(text);
    default:
      return fc.oneof(fc.uint8Array({ maxLength: FIELDS[field][1] }).map((b) => Buffer.from(b)), fc.constantFrom('0000000', '7777777', '').map(text));
  }
};

export const headerEdit: fc.Arbitrary<HeaderEdit> = fc
  .tuple(fc.nat(), fc.constantFrom(...(Object.keys(FIELDS) as Field[])), fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }))
  .chain(([header, field, fixChecksum]) => fieldValue(field).map((value) => ({ header, field, value, fixChecksum })));

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

/** Applies header edits to a copy of `tarBytes` (headers found before each edit). */
export function applyHeaderEdits(tarBytes: Uint8Array, edits: readonly HeaderEdit[]): Buffer {
  const b = Buffer.from(tarBytes);
  for (const e of edits) {
    const offsets = headerOffsets(b);
    if (!offsets.length) break;
    const at = offsets[e.header % offsets.length]!;
    const h = b.subarray(at, at + 512);
    const [start, len] = FIELDS[e.field];
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8) || 0;
    const value = Buffer.isBuffer(e.value) ? e.value : sizeBytes(e.value, size);
    h.fill(0, start, start + len);
    value.copy(h, start, 0, Math.min(len, value.length));
    if (e.fixChecksum) text(octal(checksum(h), 7) + '\0').copy(h, 148);
  }
  return b;
}

export interface PackEntry {
  name: string;
  type?: tar.Header['type'];
  body?: Buffer;
  linkname?: string;
  pax?: Record<string, string>;
}

/** Packs entries with tar-stream exactly as given; `finalize` false leaves the end marker off. */
export async function packTar(entries: readonly PackEntry[], finalize = true): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const type = e.type ?? 'file';
      const header: Parameters<tar.Pack['entry']>[0] = { name: e.name, type, mtime: new Date(0), mode: 0o644 };
      if (e.linkname !== undefined) header.linkname = e.linkname;
      if (e.pax) header.pax = e.pax;
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file' || type === 'contiguous-file') pack.entry({ ...header, size: e.body?.length ?? 0 }, e.body ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  if (!finalize) {
    pack.destroy();
    return Buffer.concat(chunks);
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export const ENTRY_TYPES: tar.Header['type'][] = ['file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo', 'contiguous-file'];

/** Entries that do not belong in a bundle, or belong somewhere else in it. */
export const strayEntry: fc.Arbitrary<PackEntry> = fc.record(
  {
    name: fc.oneof(fc.constantFrom(...NAMES.filter((n) => n !== '')), fc.string({ minLength: 1, maxLength: 30 }), fc.constant(`payloads/${'x'.repeat(120)}`)),
    type: fc.constantFrom(...ENTRY_TYPES),
    body: fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)),
    linkname: fc.constantFrom('/etc/passwd', '../x', 'payloads/rootfs'),
    pax: fc.dictionary(fc.constantFrom('path', 'size', 'linkpath', 'comment', 'mtime'), fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom('0', '1', '512', '-1', '99999999', 'x')), { maxKeys: 2 }),
  },
  { requiredKeys: ['name'] },
);
