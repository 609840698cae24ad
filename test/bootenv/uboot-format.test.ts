// The codec alone: byte layout, CRC, termination rules, and which redundant copy is current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, currentCopy, decodeData, decodeImage, encodeData, encodeImage, headerSize, nextFlags } from '../../src/bootenv/uboot-format.js';
import { EnvFormatError, EnvTooLargeError } from '../../src/bootenv/errors.js';

test('CRC-32 is the IEEE one U-Boot uses (check value of "123456789")', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('a single-copy image is CRC (LE) then name=value\\0 entries, \\0, zero padding', () => {
  const data = encodeData(new Map([['a', '1'], ['bc', 'x y']]), 16);
  assert.deepEqual(data, Buffer.from('a=1\0bc=x y\0\0\0\0\0\0', 'latin1'));
  const image = encodeImage(data, false);
  assert.equal(image.length, 20);
  assert.equal(image.readUInt32LE(0), crc32(data));
  assert.deepEqual(image.subarray(4), data);
});

test('a redundant image has the flags byte after the CRC and the CRC covers only the data', () => {
  const data = encodeData(new Map([['k', 'v']]), 11);
  const image = encodeImage(data, true, 7);
  assert.equal(headerSize(true), 5);
  assert.equal(image[4], 7);
  assert.equal(image.readUInt32LE(0), crc32(image.subarray(5)));
  const back = decodeImage(image, true);
  assert.equal(back.crcOk, true);
  assert.equal(back.flags, 7);
  assert.deepEqual(decodeData(back.data), new Map([['k', 'v']]));
});

test('a flipped byte anywhere in the data fails the CRC', () => {
  const image = encodeImage(encodeData(new Map([['k', 'v']]), 64), false);
  for (const at of [4, 10, 63 + 4]) {
    const bad = Buffer.from(image);
    bad[at] ^= 0x01;
    assert.equal(decodeImage(bad, false).crcOk, false, `byte ${at}`);
  }
});

test('data that exactly fits is accepted; one byte more is SF_ERR_ENV_TOO_LARGE', () => {
  const vars = new Map([['ab', 'cd']]); // "ab=cd\0" + "\0" = 7 bytes
  assert.equal(encodeData(vars, 7).length, 7);
  assert.throws(() => encodeData(vars, 6), (e: unknown) => e instanceof EnvTooLargeError && e.code === 'SF_ERR_ENV_TOO_LARGE');
});

test('decoding skips entries without "=", lets a later duplicate win, keeps empty values', () => {
  const vars = decodeData(Buffer.from('a=1\0junk\0b=\0a=2\0\0garbage-after-end', 'latin1'));
  assert.deepEqual([...vars], [['b', ''], ['a', '2']]);
});

test('an environment without its terminating empty entry is SF_ERR_ENV_FORMAT', () => {
  assert.throws(() => decodeData(Buffer.from('a=1\0b=2', 'latin1')), EnvFormatError);
  assert.throws(() => decodeData(Buffer.from('a=1\0b=2\0', 'latin1')), EnvFormatError);
  assert.deepEqual(decodeData(Buffer.from('\0\0', 'latin1')).size, 0);
});

test('current copy: the only valid one, else the higher flags, with 255 -> 0 wrap-around', () => {
  const ok = (flags: number) => ({ crcOk: true, flags });
  const bad = (flags: number) => ({ crcOk: false, flags });
  assert.equal(currentCopy(ok(1), bad(9)), 0);
  assert.equal(currentCopy(bad(9), ok(1)), 1);
  assert.equal(currentCopy(bad(1), bad(2)), -1);
  assert.equal(currentCopy(ok(3), ok(4)), 1);
  assert.equal(currentCopy(ok(4), ok(3)), 0);
  assert.equal(currentCopy(ok(5), ok(5)), 0);
  assert.equal(currentCopy(ok(255), ok(0)), 1, '0 after 255 is newer');
  assert.equal(currentCopy(ok(0), ok(255)), 0, '0 after 255 is newer');
  assert.equal(currentCopy(ok(254), ok(255)), 1);
  assert.equal(nextFlags(254), 255);
  assert.equal(nextFlags(255), 0);
});
