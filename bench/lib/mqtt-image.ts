// The MQTT bench's image: random bytes in a temporary file (random so no chunk is all-zero and
// slotflip and the bare subscriber move exactly the same bytes), and a release over it at a
// given chunk size.

import { createHash, randomFillSync } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { ChunkTableBuilder, MANIFEST_FORMAT, parseManifest, serializeManifest, type Manifest } from '../../src/bundle/manifest.js';
import { crc32 } from '../../src/transfer/crc.js';

export async function writeRandomImage(file: string, size: number): Promise<void> {
  const fh = await fsp.open(file, 'w');
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  try {
    for (let off = 0; off < size; off += buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, size - off), off);
    }
  } finally {
    await fh.close();
  }
}

export interface BenchRelease {
  manifest: Manifest;
  manifestBytes: Buffer;
  sigBytes: Buffer;
  openPayload(name: string, offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A release of the first `size` bytes of `file` (its chunk table computed here). */
export async function openRelease(file: string, size: number, chunkSize: number): Promise<BenchRelease> {
  const fh = await fsp.open(file, 'r');
  const table = new ChunkTableBuilder(chunkSize);
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(chunkSize);
  for (let off = 0; off < size; off += chunkSize) {
    const n = Math.min(chunkSize, size - off);
    await fh.read(buf, 0, n, off);
    const chunk = buf.subarray(0, n);
    hash.update(chunk);
    table.add(crc32(chunk), false);
  }
  const manifestBytes = serializeManifest(
    parseManifest(
      serializeManifest({
        format: MANIFEST_FORMAT,
        compatible: ['bench-board'],
        version: '1.0.0',
        securityVersion: 0,
        created: new Date().toISOString(),
        keyId: '0123456789abcdef',
        payloads: [{ name: 'rootfs', size, sha256: hash.digest('hex'), ...table.finish() }],
      }),
    ),
  );
  return {
    manifest: parseManifest(manifestBytes),
    manifestBytes,
    sigBytes: Buffer.from('bench'),
    async openPayload(_name, offset, length) {
      const out = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(out, 0, length, offset);
      return out.subarray(0, bytesRead);
    },
    close: () => fh.close(),
  };
}
