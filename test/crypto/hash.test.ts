// The hashing pass-through copies bytes unchanged and yields the same SHA-256 as hashing
// the whole buffer at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Sha256PassThrough, sha256Hex } from '../../src/crypto/hash.js';

test('Sha256PassThrough hashes while copying', async () => {
  const data = Buffer.alloc(1_000_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += 65_521) parts.push(data.subarray(at, at + 65_521));
  const hasher = new Sha256PassThrough();
  const copied: Buffer[] = [];
  await pipeline(
    Readable.from(parts),
    hasher,
    new Writable({
      write(chunk, _e, cb) {
        copied.push(chunk);
        cb();
      },
    }),
  );
  assert.ok(Buffer.concat(copied).equals(data));
  assert.equal(hasher.bytes, data.length);
  assert.equal(hasher.digest(), createHash('sha256').update(data).digest('hex'));
  assert.equal(sha256Hex(data), hasher.digest());
});

test('digest() before the end is a programming error, not a wrong answer', () => {
  assert.throws(() => new Sha256PassThrough().digest());
});

test('the empty input hashes to the well-known SHA-256 of nothing', () => {
  assert.equal(sha256Hex(Buffer.alloc(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});
