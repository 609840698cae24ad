// Opening a bundle for installation: read manifest.json and manifest.sig (the first two tar
// entries), verify the signature and the manifest before a single payload byte is handed out,
// then offer the payloads one by one as streams that check their digest at the end.

import type { Readable } from 'node:stream';
import type { TrustedKey } from '../crypto/trusted.js';
import { SlotflipError } from '../errors.js';
import { MAX_MANIFEST_BYTES, ManifestError, type Manifest, type PayloadEntry } from './manifest.js';
import { MAX_SIGNATURE_BYTES } from './signature.js';
import { verifyManifest } from './verify.js';
import { BundleFormatError, DigestError, OversizeError } from './errors.js';
import { StrictTarReader, type TarEntry } from './tar-reader.js';
import { PayloadStream, type PayloadHasher } from './payload-stream.js';

export const MANIFEST_ENTRY = 'manifest.json';
export const SIGNATURE_ENTRY = 'manifest.sig';
export const PAYLOAD_PREFIX = 'payloads/';

export interface OpenedBundle {
  manifest: Manifest;
  manifestBytes: Buffer;
  signer: TrustedKey;
  /** Payload entries in order; each stream must be consumed (or drained) before the next.
   *  The stream errors with SF_ERR_DIGEST at its end if SHA-256 or size differ from the manifest. */
  payloads(): AsyncIterable<{ entry: PayloadEntry; stream: Readable }>;
  close(): Promise<void>; // destroys the input
}

export interface OpenOptions {
  trustedKeys: TrustedKey[];
  now?: Date;
  checkExpiry?: boolean;
  revokedKeys?: readonly string[];
  /** Where each payload's SHA-256 runs; undefined (or no hasher) hashes on this thread. */
  payloadHasher?: (entry: PayloadEntry) => PayloadHasher | undefined;
  /**
   * Payloads handed out without a SHA-256 (their size is still checked): only for a caller
   * that proves the bytes against `entry.sha256` itself before anything depends on them, as
   * the local install does by reading the slot back (decision D8).
   */
  unhashed?: (entry: PayloadEntry) => boolean;
}

/** Reads a whole (small) entry, refusing more than `max` bytes before reading any. */
export async function readEntry(e: TarEntry, max: number, tooBig: (size: number) => Error): Promise<Buffer> {
  if (e.size > max) throw tooBig(e.size);
  const parts: Buffer[] = [];
  try {
    for await (const chunk of e.stream) parts.push(chunk as Buffer);
  } catch (cause) {
    if (cause instanceof SlotflipError) throw cause;
    throw new BundleFormatError(`tar entry ${e.name} is cut short: ${(cause as Error).message}`, { cause });
  }
  return Buffer.concat(parts);
}

/** Reads the manifest and signature entries without judging them (inspect uses this too). */
export async function readHeaderEntries(reader: StrictTarReader): Promise<{ manifestBytes: Buffer; signatureBytes: Buffer }> {
  const first = await reader.next();
  if (!first) throw new BundleFormatError(`bundle has no entries; ${MANIFEST_ENTRY} must come first`);
  if (first.name !== MANIFEST_ENTRY) throw new BundleFormatError(`first entry is ${JSON.stringify(first.name)}; ${MANIFEST_ENTRY} must come first`);
  const manifestBytes = await readEntry(first, MAX_MANIFEST_BYTES, (n) => new ManifestError(`manifest is ${n} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`));
  const second = await reader.next();
  if (!second) throw new BundleFormatError(`bundle ends after ${MANIFEST_ENTRY}; ${SIGNATURE_ENTRY} must follow it`);
  if (second.name === MANIFEST_ENTRY) throw new BundleFormatError(`bundle holds ${MANIFEST_ENTRY} twice`);
  if (second.name !== SIGNATURE_ENTRY) throw new BundleFormatError(`second entry is ${JSON.stringify(second.name)}; ${SIGNATURE_ENTRY} must follow ${MANIFEST_ENTRY}`);
  const signatureBytes = await readEntry(second, MAX_SIGNATURE_BYTES, (n) => new BundleFormatError(`${SIGNATURE_ENTRY} is ${n} bytes, more than ${MAX_SIGNATURE_BYTES}`));
  return { manifestBytes, signatureBytes };
}

/** Checks a payload entry's name, place and size against the manifest before it is read. */
function matchPayload(e: TarEntry, manifest: Manifest, index: number): PayloadEntry {
  if (e.name === MANIFEST_ENTRY || e.name === SIGNATURE_ENTRY) throw new BundleFormatError(`bundle holds ${e.name} twice`);
  if (!e.name.startsWith(PAYLOAD_PREFIX)) throw new BundleFormatError(`unexpected entry ${JSON.stringify(e.name)}; payloads live under ${PAYLOAD_PREFIX}`);
  const name = e.name.slice(PAYLOAD_PREFIX.length);
  const at = manifest.payloads.findIndex((p) => p.name === name);
  if (at < 0) throw new OversizeError(`entry ${JSON.stringify(e.name)} is not a payload of the manifest`, { details: { name: e.name } });
  if (at < index) throw new BundleFormatError(`bundle holds ${e.name} twice`);
  if (at > index) throw new BundleFormatError(`entry ${e.name} is out of order; ${PAYLOAD_PREFIX}${manifest.payloads[index]!.name} comes first`);
  const entry = manifest.payloads[at]!;
  if (e.size > entry.size) {
    throw new OversizeError(`payload ${name}: tar entry holds ${e.size} bytes, manifest says ${entry.size}`, { details: { payload: name, size: e.size } });
  }
  if (e.size < entry.size) {
    throw new DigestError(`payload ${name}: tar entry holds ${e.size} bytes, manifest says ${entry.size}`, { details: { payload: name, size: e.size } });
  }
  return entry;
}

export async function openBundle(input: Readable, opts: OpenOptions): Promise<OpenedBundle> {
  const reader = new StrictTarReader(input);
  let verified;
  let manifestBytes: Buffer;
  try {
    const head = await readHeaderEntries(reader);
    manifestBytes = head.manifestBytes;
    verified = verifyManifest(head.manifestBytes, head.signatureBytes, opts);
  } catch (err) {
    reader.destroy(err as Error);
    throw err;
  }
  const { manifest, signer } = verified;
  let iterated = false;

  async function* payloads(): AsyncGenerator<{ entry: PayloadEntry; stream: Readable }> {
    if (iterated) throw new BundleFormatError('payloads() can be iterated only once per opened bundle');
    iterated = true;
    let previous: PayloadStream | undefined;
    let index = 0;
    try {
      for (;;) {
        await previous?.finish();
        const e = await reader.next();
        if (!e) break;
        const entry = matchPayload(e, manifest, index);
        previous = new PayloadStream(e.stream, entry, () => reader.error, opts.unhashed?.(entry) ? 'unhashed' : opts.payloadHasher?.(entry));
        index++;
        yield { entry, stream: previous };
      }
      if (index < manifest.payloads.length) {
        throw new BundleFormatError(`bundle ends before payload ${manifest.payloads[index]!.name}`);
      }
    } catch (err) {
      reader.destroy(err as Error);
      throw err;
    }
  }

  return {
    manifest,
    manifestBytes,
    signer,
    payloads,
    async close() {
      reader.destroy();
    },
  };
}
