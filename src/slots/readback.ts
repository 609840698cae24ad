// Read-back verification: after a slot is written and synced, hash what the device returns
// for the payload's length. The page cache may serve recently written blocks; see
// docs/slots.md for what this does and does not catch.

import { createHash } from 'node:crypto';
import type { FileSystem } from '../platform/fs.js';
import { ReadbackError } from './errors.js';

export async function readBackDigest(fs: FileSystem, device: string, length: number, bufferSize: number, onProgress?: (done: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.max(4096, Math.min(bufferSize, length || 4096)));
  const fh = await fs.open(device, 'read');
  try {
    let position = 0;
    while (position < length) {
      const want = Math.min(buf.length, length - position);
      const got = await fh.read(buf, 0, want, position);
      if (got === 0) throw new ReadbackError(`${device} ends at ${position} bytes, ${length} expected`);
      hash.update(buf.subarray(0, got));
      position += got;
      onProgress?.(position);
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** Hashes the first `length` bytes of the slot and compares with the signed digest. */
export async function verifySlot(fs: FileSystem, device: string, length: number, sha256: string, bufferSize: number): Promise<void> {
  const got = await readBackDigest(fs, device, length, bufferSize);
  if (got !== sha256) {
    throw new ReadbackError(`${device} reads back as sha256 ${got.slice(0, 16)}…, the manifest says ${sha256.slice(0, 16)}…`, {
      details: { device, expected: sha256, actual: got },
    });
  }
}
