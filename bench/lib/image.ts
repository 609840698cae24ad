// The test image every install bench uses: deterministic (the same bytes for every tool and
// every run), mostly incompressible data with some free space, like a filled root filesystem:
// in every 8 MiB, 7 MiB of AES-CTR keystream and 1 MiB of zeros.

import { createCipheriv } from 'node:crypto';
import { closeSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { MiB } from './metric.js';

export const IMAGE_KIND = 'deterministic pseudo-random data, 7 MiB of every 8 MiB (1 MiB zero runs)';

export function makeImage(file: string, size: number, seed = 'slotflip-bench'): void {
  const key = Buffer.alloc(32);
  key.write(seed);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  const fd = openSync(file, 'w');
  try {
    for (let at = 0; at < size; at += MiB) {
      const n = Math.min(MiB, size - at);
      const block = (at / MiB) % 8 === 7 ? zeros.subarray(0, n) : cipher.update(zeros.subarray(0, n));
      writeSync(fd, block, 0, n, at);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
