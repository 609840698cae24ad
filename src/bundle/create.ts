// Writing a bundle in two passes per payload, so memory stays flat whatever the image size:
// pass 1 reads the file for its size, SHA-256 and chunk table (CRC-32 per chunk, all-zero
// runs); pass 2 copies it into the tar after manifest.json and manifest.sig, re-hashing to
// catch a file that changed in between.

import { createReadStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import type { KeyObject } from 'node:crypto';
import { createHash, createPublicKey } from 'node:crypto';
import * as tar from 'tar-stream';
import { realFs, type FileSystem } from '../platform/fs.js';
import { IoError } from '../errors.js';
import { crc32 } from '../crypto/crc.js';
import { keyIdOf } from '../crypto/keys.js';
import {
  ChunkTableBuilder,
  chunkSizeFor,
  MANIFEST_FORMAT,
  parseManifest,
  serializeManifest,
  type Manifest,
  type PayloadEntry,
} from './manifest.js';
import { serializeSignatureFile, signManifest, type Endorsement, type SignatureFile } from './signature.js';
import { DigestError } from './errors.js';
import { isAllZero, zeroCrc } from './zero.js';
import { MANIFEST_ENTRY, PAYLOAD_PREFIX, SIGNATURE_ENTRY } from './open.js';

export interface PayloadSource {
  name: string;
  file: string;
}

export interface CreateOptions {
  boards: string[];
  version: string;
  securityVersion?: number;
  created?: Date;
  expires?: Date;
  payloads: PayloadSource[];
  privateKey: KeyObject;
  /** An older trusted key's endorsement of privateKey's public half (key rotation). */
  endorsement?: Endorsement;
  chunkSize?: number;
  preInstall?: string[];
  /** Bytes processed over both passes, out of 2 × the payloads' total size. */
  onProgress?: (done: number, total: number) => void;
  fs?: FileSystem;
}

export interface CreatedBundle {
  manifest: Manifest;
  manifestBytes: Buffer;
  signature: SignatureFile;
}

/** Pass 1: size, SHA-256 and chunk table of one payload file, reading one chunk at a time. */
export async function scanPayload(name: string, file: string, chunkSizeOpt?: number, onBytes?: (n: number) => void, fs: FileSystem = realFs): Promise<PayloadEntry> {
  const st = await fs.stat(file).catch((cause) => {
    throw new IoError(`cannot read payload ${name} from ${file}`, { cause, details: { file } });
  });
  if (!st.isFile) throw new IoError(`payload ${name}: ${file} is not a regular file`, { details: { file } });
  const chunkSize = chunkSizeOpt ?? chunkSizeFor(st.size);
  const fh = await fs.open(file, 'read');
  const hash = createHash('sha256');
  const table = new ChunkTableBuilder(chunkSize);
  const buf = Buffer.allocUnsafe(chunkSize);
  let size = 0;
  try {
    for (;;) {
      let n = 0;
      while (n < chunkSize) {
        const got = await fh.read(buf, n, chunkSize - n, size + n);
        if (got === 0) break;
        n += got;
      }
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      hash.update(chunk);
      // Zero chunks (sparse images, unused file-system space) are never sent over MQTT.
      const allZero = isAllZero(chunk);
      table.add(allZero ? zeroCrc(n) : crc32(chunk), allZero);
      size += n;
      onBytes?.(n);
      if (n < chunkSize) break;
    }
  } finally {
    await fh.close();
  }
  return { name, size, sha256: hash.digest('hex'), ...table.finish() };
}

/** Builds, validates and serialises the manifest; throws ManifestError if a field does not hold. */
export function buildManifest(opts: Omit<CreateOptions, 'payloads'>, payloads: PayloadEntry[], publicKey: KeyObject): { manifest: Manifest; bytes: Buffer } {
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    compatible: opts.boards,
    version: opts.version,
    securityVersion: opts.securityVersion ?? 0,
    created: (opts.created ?? new Date()).toISOString(),
    keyId: keyIdOf(publicKey),
    payloads,
  };
  if (opts.expires) m.expires = opts.expires.toISOString();
  if (opts.preInstall?.length) m.preInstall = opts.preInstall;
  // Key order on the wire: format first, payloads near the end, as the schema lists them.
  const ordered: Manifest = {
    format: m.format,
    compatible: m.compatible,
    version: m.version,
    securityVersion: m.securityVersion,
    created: m.created,
    ...(m.expires ? { expires: m.expires } : {}),
    keyId: m.keyId,
    payloads: m.payloads,
    ...(m.preInstall ? { preInstall: m.preInstall } : {}),
  };
  const bytes = serializeManifest(ordered);
  return { manifest: parseManifest(bytes), bytes };
}

type EntryHeader = Parameters<tar.Pack['entry']>[0];
type Sink = ReturnType<tar.Pack['entry']>;

function addEntry(pack: tar.Pack, header: EntryHeader, body?: Buffer): { sink: Sink; done: Promise<void> } {
  let sink!: Sink;
  const done = new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
    sink = body ? pack.entry(header, body, cb) : pack.entry(header, cb);
  });
  // Failures reach the caller through `done` or a throw in copyPayload; these listeners only
  // keep the same failure from also surfacing as an unhandled event.
  done.catch(() => {});
  sink.on('error', () => {});
  return { sink, done };
}

/** Pass 2: copies one payload into its tar entry, checking it is still what pass 1 saw. */
async function copyPayload(pack: tar.Pack, src: PayloadSource, entry: PayloadEntry, mtime: Date, onBytes?: (n: number) => void): Promise<void> {
  const { sink, done } = addEntry(pack, { name: PAYLOAD_PREFIX + entry.name, size: entry.size, mode: 0o644, mtime, type: 'file' });
  const hash = createHash('sha256');
  let bytes = 0;
  if (entry.size > 0) {
    const input = createReadStream(src.file, { start: 0, end: entry.size - 1, highWaterMark: 256 * 1024 });
    for await (const chunk of input as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(chunk.length);
      if (!sink.write(chunk)) await drained(sink);
    }
  }
  const digest = hash.digest('hex');
  if (bytes !== entry.size || digest !== entry.sha256) {
    const err = new DigestError(`payload ${entry.name}: ${src.file} changed while the bundle was written`, { details: { file: src.file } });
    sink.destroy(err);
    throw err;
  }
  (sink as unknown as { end(): void }).end();
  await done;
}

/**
 * Resolves on 'drain'; rejects when the stream errors or closes first, or already has. (A bare
 * once('drain') on a destroyed stdout waits forever, and Node then exits 0 mid-bundle.)
 */
function drained(stream: unknown): Promise<void> {
  const s = stream as NodeJS.EventEmitter & { destroyed?: boolean };
  if (s.destroyed) return Promise.reject(new Error('output closed before the bundle was written'));
  return new Promise((resolve, reject) => {
    const finish = (err?: Error): void => {
      s.off('drain', onDrain);
      s.off('error', onError);
      s.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => finish();
    const onError = (err: Error): void => finish(err);
    const onClose = (): void => finish(new Error('output closed before the bundle was written'));
    s.on('drain', onDrain);
    s.on('error', onError);
    s.on('close', onClose);
  });
}

async function pump(pack: tar.Pack, out: NodeJS.WritableStream, end: boolean): Promise<void> {
  for await (const chunk of pack as AsyncIterable<Buffer>) {
    if (!out.write(chunk)) await drained(out);
  }
  if (end) {
    out.end();
    await finished(out);
  }
}

/**
 * Writes a signed bundle to `out`. `out` is ended afterwards unless `end` is false (stdout).
 * Holds one chunk per pass plus stream buffers in memory, whatever the payload sizes.
 */
export async function createBundle(opts: CreateOptions, out: NodeJS.WritableStream, end = true): Promise<CreatedBundle> {
  // An output that fails (no such directory, disk full, closed pipe) stops everything, and its
  // error is the one reported, not the "pack destroyed" it causes upstream. Listen from the
  // start: a file output reports a failed open while pass 1 is still running.
  let outError: Error | undefined;
  let pack: tar.Pack | undefined;
  const onOutError = (err: Error): void => {
    outError ??= err;
    pack?.destroy(err);
  };
  out.on('error', onOutError);
  try {
    return await writeBundle(opts, out, end, () => outError, (p) => (pack = p));
  } catch (err) {
    // An output we were to end is ours: close it so the caller can remove the partial file.
    if (end) (out as NodeJS.WritableStream & { destroy?: () => void }).destroy?.();
    if (outError) throw new IoError('writing the bundle failed', { cause: outError });
    throw err;
  } finally {
    out.off('error', onOutError);
  }
}

async function writeBundle(opts: CreateOptions, out: NodeJS.WritableStream, end: boolean, outError: () => Error | undefined, started: (p: tar.Pack) => void): Promise<CreatedBundle> {
  const chunkSize = opts.chunkSize; // undefined: chosen per payload (chunkSizeFor)
  const fs = opts.fs ?? realFs;
  const publicKey = createPublicKey(opts.privateKey);
  let done = 0;
  let total = 0;
  for (const p of opts.payloads) total += (await fs.stat(p.file).catch(() => ({ size: 0 }))).size * 2;
  const tick = (n: number): void => {
    done += n;
    opts.onProgress?.(done, Math.max(total, done));
  };

  const entries: PayloadEntry[] = [];
  for (const p of opts.payloads) entries.push(await scanPayload(p.name, p.file, chunkSize, tick, fs));
  const { manifest, bytes } = buildManifest(opts, entries, publicKey);
  const signature = signManifest(bytes, opts.privateKey, publicKey, opts.endorsement);
  const mtime = new Date(manifest.created);
  const failed = outError();
  if (failed) throw failed;

  const pack = tar.pack();
  started(pack);
  const piping = pump(pack, out, end);
  piping.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  try {
    await addEntry(pack, { name: MANIFEST_ENTRY, mode: 0o644, mtime }, bytes).done;
    await addEntry(pack, { name: SIGNATURE_ENTRY, mode: 0o644, mtime }, serializeSignatureFile(signature)).done;
    for (let i = 0; i < entries.length; i++) await copyPayload(pack, opts.payloads[i]!, entries[i]!, mtime, tick);
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await piping.catch(() => {});
    throw err;
  }
  await piping;
  return { manifest, manifestBytes: bytes, signature };
}
