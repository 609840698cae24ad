// The signed manifest: what a bundle promises about itself. Its exact bytes are what the
// Ed25519 signature covers, and its chunk table is what the MQTT transfer checks each chunk
// against. This file defines the format and its validation; bundle/create.ts writes one.

import { createHash } from 'node:crypto';
import * as z from 'zod';
import { SlotflipError } from '../errors.js';

export const MANIFEST_FORMAT = 'slotflip-manifest/1';
/** Largest manifest accepted (a 16 GiB payload at 64 KiB chunks has a ~1.4 MB table). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Default chunk size of new bundles; the MQTT transfer sends one chunk per frame. 512 KiB
 * used the least CPU per MiB in the measurements of docs/protocol.md. */
export const DEFAULT_CHUNK_SIZE = 512 * 1024;
export const MIN_CHUNK_SIZE = 4 * 1024;
/**
 * Chunks a payload gets at least when its chunk size is chosen for it: a lost frame then costs
 * a small share of the payload, and repair frames (docs/protocol.md) have enough frames to
 * spread over a fleet's independent losses. A 16 MiB payload gets 256 KiB chunks.
 */
export const MIN_CHUNKS = 64;
const MIN_CHOSEN_CHUNK = 64 * 1024;

/** The chunk size of a payload of `size` bytes when the creator does not set one. */
export function chunkSizeFor(size: number): number {
  let c = DEFAULT_CHUNK_SIZE;
  while (c > MIN_CHOSEN_CHUNK && size / c < MIN_CHUNKS) c /= 2;
  return c;
}
export const MAX_CHUNK_SIZE = 8 * 1024 * 1024;

export class ManifestError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('SF_ERR_MANIFEST', message, options);
  }
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const payloadName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a payload name (a-z, 0-9, _ and -, at most 32)');

const PayloadSchema = z
  .object({
    name: payloadName,
    size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    sha256: hex64,
    chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
    /** base64 of one big-endian uint32 CRC-32 per chunk, in order. */
    crc32: z.string(),
    /** Runs of chunks that are all zero bytes, as [first, lastExclusive]; never sent over MQTT. */
    zero: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
  })
  .strict();

const ManifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    compatible: z.array(z.string().min(1)).min(1),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, 'a semantic version'),
    securityVersion: z.number().int().nonnegative(),
    created: z.string().datetime({ offset: true }),
    expires: z.string().datetime({ offset: true }).optional(),
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    payloads: z.array(PayloadSchema).min(1),
    /** Optional command run with the staged payload before an app install may proceed. */
    preInstall: z.array(z.string()).min(1).optional(),
  })
  .strict();

export type PayloadEntry = z.infer<typeof PayloadSchema>;
export type Manifest = z.infer<typeof ManifestSchema>;

/** Parses and validates manifest bytes; does not check the signature (see bundle/verify.ts). */
export function parseManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new ManifestError(`manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ManifestError('manifest is not valid JSON', { cause });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ManifestError(`manifest field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const m = parsed.data;
  const names = new Set<string>();
  for (const p of m.payloads) {
    if (names.has(p.name)) throw new ManifestError(`manifest lists payload ${p.name} twice`);
    names.add(p.name);
    const table = new ChunkTable(p); // validates the table against size
    void table;
  }
  return m;
}

/** Canonical bytes of a manifest (what gets signed): JSON, fixed key order, trailing newline. */
export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m, null, 2) + '\n');
}

/** Stable id of a release: the first 16 hex digits of the SHA-256 of the signed manifest bytes. */
export function releaseId(manifestBytes: Uint8Array): string {
  return createHash('sha256').update(manifestBytes).digest('hex').slice(0, 16);
}

export function findPayload(m: Manifest, name: string): PayloadEntry | undefined {
  return m.payloads.find((p) => p.name === name);
}

/** Read access to a payload's chunk table. */
export class ChunkTable {
  readonly count: number;
  readonly chunkSize: number;
  readonly size: number;
  private readonly crcs: Uint32Array;
  private readonly zeroBits: Uint8Array;

  constructor(p: PayloadEntry) {
    this.size = p.size;
    this.chunkSize = p.chunkSize;
    this.count = Math.ceil(p.size / p.chunkSize);
    const raw = Buffer.from(p.crc32, 'base64');
    if (raw.length !== this.count * 4) {
      throw new ManifestError(`payload ${p.name}: chunk table has ${raw.length / 4} CRCs for ${this.count} chunks`);
    }
    this.crcs = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) this.crcs[i] = raw.readUInt32BE(i * 4);
    this.zeroBits = new Uint8Array(Math.ceil(this.count / 8));
    let last = 0;
    for (const [from, to] of p.zero) {
      if (from < last || to <= from || to > this.count) {
        throw new ManifestError(`payload ${p.name}: zero run [${from}, ${to}) is out of order or out of range`);
      }
      for (let i = from; i < to; i++) this.zeroBits[i >> 3]! |= 1 << (i & 7);
      last = to;
    }
  }

  /** Bytes in chunk i (the last one may be short). */
  length(i: number): number {
    return Math.min(this.chunkSize, this.size - i * this.chunkSize);
  }

  offset(i: number): number {
    return i * this.chunkSize;
  }

  crc(i: number): number {
    return this.crcs[i]!;
  }

  isZero(i: number): boolean {
    return (this.zeroBits[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  /** Number of chunks that have to travel (not all-zero). */
  get dataChunks(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (!this.isZero(i)) n++;
    return n;
  }
}

/** Builds the chunk-table fields while a payload streams past (used by bundle create). */
export class ChunkTableBuilder {
  private readonly crcs: number[] = [];
  private readonly zero: [number, number][] = [];

  constructor(readonly chunkSize: number) {}

  add(crc: number, allZero: boolean): void {
    const i = this.crcs.length;
    this.crcs.push(crc >>> 0);
    if (allZero) {
      const run = this.zero[this.zero.length - 1];
      if (run && run[1] === i) run[1] = i + 1;
      else this.zero.push([i, i + 1]);
    }
  }

  finish(): { chunkSize: number; crc32: string; zero: [number, number][] } {
    const raw = Buffer.alloc(this.crcs.length * 4);
    this.crcs.forEach((c, i) => raw.writeUInt32BE(c, i * 4));
    return { chunkSize: this.chunkSize, crc32: raw.toString('base64'), zero: this.zero };
  }
}
