// Read-back verification: after a slot is written and synced, hash what the device returns
// for the payload's length. The page cache may serve recently written blocks; see
// docs/slots.md for what this does and does not catch.

import { createHash } from 'node:crypto';
import type { FileSystem } from '../platform/fs.js';
import { ReadbackError } from './errors.js';

export async function readBackDigest(fs: FileSystem, device: string, length: number, bufferSize: number, onProgress?: (done: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const size = Math.max(4096, Math.min(bufferSize, length || 4096));
  // Two buffers: the next read runs in the thread pool while this one is hashed.
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  const fh = await fs.open(device, 'read');
  const readInto = async (buf: Buffer, at: number): Promise<number> => {
    const want = Math.min(buf.length, length - at);
    let got = 0;
    while (got < want) {
      const n = await fh.read(buf, got, want - got, at + got);
      if (n === 0) throw new ReadbackError(`${device} ends at ${at + got} bytes, ${length} expected`);
      got += n;
    }
    return got;
  };
  try {
    let position = 0;
    let turn = 0;
    let pending = length > 0 ? readInto(bufs[0]!, 0) : undefined;
    while (pending) {
      const got = await pending;
      const current = bufs[turn]!;
      const nextAt = position + got;
      turn ^= 1;
      pending = nextAt < length ? readInto(bufs[turn]!, nextAt) : undefined;
      hash.update(current.subarray(0, got));
      position = nextAt;
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
