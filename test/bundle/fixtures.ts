// Shared fixtures for the bundle tests: a signing key, temp dirs, payload files, and a way to
// craft tars (good or deliberately malformed) with tar-stream directly.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import * as tar from 'tar-stream';
import { generateSigningKeyPair, keyIdOf, type SigningKeyPair } from '../../src/crypto/keys.js';
import { trustedKey, type TrustedKey } from '../../src/crypto/trusted.js';
import { crc32 } from '../../src/crypto/crc.js';
import type { OpenedBundle } from '../../src/bundle/open.js';
import { ChunkTableBuilder, MANIFEST_FORMAT, serializeManifest, type Manifest, type PayloadEntry } from '../../src/bundle/manifest.js';
import { serializeSignatureFile, signManifest } from '../../src/bundle/signature.js';
import { isAllZero } from '../../src/bundle/zero.js';

export interface Signer extends SigningKeyPair {
  keyId: string;
  trusted: TrustedKey;
}

export function newSigner(): Signer {
  const pair = generateSigningKeyPair();
  return { ...pair, keyId: keyIdOf(pair.publicKey), trusted: trustedKey(pair.publicKey) };
}

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'slotflip-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeFile(dir: string, name: string, data: Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, data);
  return file;
}

/** Payload bytes with a zero stretch in the middle, so chunk tables have a zero run. */
export function samplePayload(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  b.fill(0, Math.floor(size / 4), Math.floor(size / 2));
  return b;
}

/** The manifest entry a correct writer would produce for `data`. */
export function payloadEntry(name: string, data: Buffer, chunkSize = 4096): PayloadEntry {
  const table = new ChunkTableBuilder(chunkSize);
  for (let at = 0; at < data.length; at += chunkSize) {
    const c = data.subarray(at, at + chunkSize);
    table.add(crc32(c), isAllZero(c));
  }
  return { name, size: data.length, sha256: createHash('sha256').update(data).digest('hex'), ...table.finish() };
}

export function manifestFor(signer: Signer, payloads: PayloadEntry[], extra: Partial<Manifest> = {}): Manifest {
  return {
    format: MANIFEST_FORMAT,
    compatible: ['test-board'],
    version: '1.0.0',
    securityVersion: 0,
    created: '2026-01-01T00:00:00.000Z',
    keyId: signer.keyId,
    payloads,
    ...extra,
  };
}

/** manifest.json and manifest.sig bytes, signed by `by` (default: the manifest's own signer). */
export function signedHead(manifest: Manifest, by: Signer): { manifestBytes: Buffer; sigBytes: Buffer } {
  const manifestBytes = serializeManifest(manifest);
  const sigBytes = serializeSignatureFile(signManifest(manifestBytes, by.privateKey, by.publicKey));
  return { manifestBytes, sigBytes };
}

export interface CraftEntry {
  name: string;
  body?: Buffer;
  type?: tar.Header['type'];
  linkname?: string;
}

/** A tar built entry by entry, exactly as given (tar-stream does no sanity checks here). */
export async function craftTar(entries: CraftEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const header: Parameters<tar.Pack['entry']>[0] = { name: e.name, type: e.type ?? 'file', mtime: new Date(0) };
      if (e.linkname !== undefined) header.linkname = e.linkname;
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (e.body && (e.type ?? 'file') === 'file') pack.entry(header, e.body, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A well-formed signed bundle of the given payloads, built by hand (not by createBundle). */
export async function craftBundle(signer: Signer, payloads: Record<string, Buffer>, extra: Partial<Manifest> = {}): Promise<{ bytes: Buffer; manifest: Manifest }> {
  const manifest = manifestFor(signer, Object.entries(payloads).map(([n, d]) => payloadEntry(n, d)), extra);
  const { manifestBytes, sigBytes } = signedHead(manifest, signer);
  const bytes = await craftTar([
    { name: 'manifest.json', body: manifestBytes },
    { name: 'manifest.sig', body: sigBytes },
    ...Object.entries(payloads).map(([n, d]) => ({ name: `payloads/${n}`, body: d })),
  ]);
  return { bytes, manifest };
}

/** A readable over a buffer in small pieces, so parsing crosses chunk boundaries. */
export function streamOf(buf: Buffer, piece = 1000): Readable {
  const parts: Buffer[] = [];
  for (let at = 0; at < buf.length; at += piece) parts.push(buf.subarray(at, at + piece));
  return Readable.from(parts, { objectMode: false });
}

export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Reads every payload of an opened bundle to the end, then closes it. */
export async function readAll(b: OpenedBundle): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  try {
    for await (const { entry, stream } of b.payloads()) out[entry.name] = await collect(stream);
  } finally {
    await b.close();
  }
  return out;
}
