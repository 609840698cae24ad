// CRC-32 helpers: the standard check value, unsigned results, incremental == one-shot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, Crc32 } from '../../src/crypto/crc.js';

test('crc32 gives the IEEE check value for "123456789" as an unsigned number', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
  const v = crc32(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  assert.ok(v >= 0 && v <= 0xffffffff && Number.isInteger(v));
  assert.equal(v, 0xffffffff);
});

test('continuing from a seed equals one pass over the concatenation', () => {
  const a = Buffer.from('slotflip chunk ');
  const b = Buffer.from('table');
  assert.equal(crc32(b, crc32(a)), crc32(Buffer.concat([a, b])));
  const c = new Crc32();
  c.update(a).update(b);
  assert.equal(c.value, crc32(Buffer.concat([a, b])));
  c.reset();
  assert.equal(c.value, 0);
});
