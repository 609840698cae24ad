// Valid small bundles for the bundle fuzz tests, made by bundle create itself, and the ways a
// reader consumes one (read every payload, skip them, give up on one half way).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { createBundle, type CreateOptions } from '../../src/bundle/create.js';
import type { Manifest } from '../../src/bundle/manifest.js';
import { openBundle, type OpenOptions } from '../../src/bundle/open.js';
import { serializeSignatureFile } from '../../src/bundle/signature.js';
import { generateSigningKeyPair, keyIdOf, type SigningKeyPair } from '../../src/crypto/keys.js';
import { trustedKey, type TrustedKey } from '../../src/crypto/trusted.js';

/** Every code a bundle reader may refuse a damaged or untrusted bundle with. */
export const BUNDLE_CODES = [
  'SF_ERR_BUNDLE_FORMAT',
  'SF_ERR_UNSAFE_PATH',
  'SF_ERR_LINK',
  'SF_ERR_DIGEST',
  'SF_ERR_OVERSIZE',
  'SF_ERR_MANIFEST',
  'SF_ERR_SIGNATURE',
  'SF_ERR_UNTRUSTED_KEY',
  'SF_ERR_KEY_REVOKED',
  'SF_ERR_EXPIRED',
];

export interface BaseBundle {
  label: string;
  bytes: Buffer;
  manifest: Manifest;
  manifestBytes: Buffer;
  sigBytes: Buffer;
  payloads: Map<string, Buffer>;
}

export interface Signer extends SigningKeyPair {
  keyId: string;
  trusted: TrustedKey;
}

export function newSigner(): Signer {
  const pair = generateSigningKeyPair();
  return { ...pair, keyId: keyIdOf(pair.publicKey), trusted: trustedKey(pair.publicKey) };
}

/** Payload bytes: a patterned head, a zero stretch (a zero chunk run), a patterned tail. */
export function payloadBytes(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  b.fill(0, Math.floor(size / 4), Math.floor((size * 3) / 4));
  return b;
}

async function bundleBytes(opts: CreateOptions): Promise<{ bytes: Buffer; manifest: Manifest; manifestBytes: Buffer; sigBytes: Buffer }> {
  const parts: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  const created = await createBundle(opts, out);
  return { bytes: Buffer.concat(parts), manifest: created.manifest, manifestBytes: created.manifestBytes, sigBytes: serializeSignatureFile(created.signature) };
}

export interface BaseSpec {
  label: string;
  payloads: [name: string, size: number][];
  signer: Signer;
  boards?: string[];
  version?: string;
  expires?: Date;
}

/** Builds bundles with createBundle from payload files in a temp dir (removed afterwards). */
export async function buildBases(specs: BaseSpec[]): Promise<BaseBundle[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'slotflip-fuzz-bundle-'));
  try {
    const out: BaseBundle[] = [];
    for (const [k, s] of specs.entries()) {
      const payloads = new Map<string, Buffer>();
      const sources = s.payloads.map(([name, size], i) => {
        const data = payloadBytes(size, k * 10 + i);
        payloads.set(name, data);
        const file = path.join(dir, `${k}-${name}`);
        writeFileSync(file, data);
        return { name, file };
      });
      const opts: CreateOptions = { boards: s.boards ?? ['test-board'], version: s.version ?? '2.0.0', created: new Date('2026-01-01T00:00:00Z'), payloads: sources, privateKey: s.signer.privateKey, chunkSize: 4096 };
      if (s.expires) opts.expires = s.expires;
      const b = await bundleBytes(opts);
      out.push({ label: s.label, ...b, payloads });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A readable over `buf` in pieces of `piece` bytes, so parsing crosses chunk boundaries. */
export function streamOf(buf: Buffer, piece: number): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < buf.length; at += piece) parts.push(buf.subarray(at, at + piece));
  return Readable.from(parts, { objectMode: false });
}

export type ConsumeMode = 'read' | 'skip' | 'abandon';

export interface Consumed {
  manifestBytes: Buffer;
  /** Payloads fully read: name, bytes. */
  read: { name: string; sha256: string; size: number; data: Buffer }[];
  yielded: number;
}

/** Opens a bundle and walks its payloads as an installer would, in one of three manners. */
export async function consume(input: Readable, opts: OpenOptions, mode: ConsumeMode): Promise<Consumed> {
  const b = await openBundle(input, opts);
  const result: Consumed = { manifestBytes: b.manifestBytes, read: [], yielded: 0 };
  try {
    for await (const { entry, stream } of b.payloads()) {
      result.yielded++;
      if (mode === 'skip') continue;
      if (mode === 'abandon' && result.yielded % 2 === 1) {
        // Read one piece, then give up on this payload (the iterator drains the rest).
        for await (const piece of stream) {
          void piece;
          break;
        }
        continue;
      }
      const parts: Buffer[] = [];
      for await (const piece of stream) parts.push(piece as Buffer);
      const data = Buffer.concat(parts);
      result.read.push({ name: entry.name, sha256: entry.sha256, size: entry.size, data });
    }
  } finally {
    await b.close();
  }
  return result;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
