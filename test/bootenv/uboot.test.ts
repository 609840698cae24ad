// The uboot backend on real temp files through a counting seam: one write per update, copy
// alternation, torn writes, both copies bad, flags wrap-around, negative offsets, geometry.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBootEnv, openBootEnv } from '../../src/bootenv/index.js';
import { EnvCrcError, EnvGeometryError, EnvTooLargeError, EnvVariableError } from '../../src/bootenv/errors.js';
import { crc32, decodeImage, encodeData, encodeImage } from '../../src/bootenv/uboot-format.js';
import type { EnvLocation } from '../../src/config/device.js';
import { fakeFs, type FakeFs } from './fake-fs.js';

const SIZE = 0x2000;
let dir: string;
let file: string;
let fs: FakeFs;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sf-uboot-'));
  file = join(dir, 'env.bin');
  fs = fakeFs();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const single = (): EnvLocation => ({ backend: 'uboot', copies: [{ device: file, offset: 0, size: SIZE }] });
const redundant = (): EnvLocation => ({
  backend: 'uboot',
  copies: [
    { device: file, offset: 0, size: SIZE },
    { device: file, offset: SIZE, size: SIZE },
  ],
});
const copyAt = (i: number) => decodeImage(readFileSync(file).subarray(i * SIZE, (i + 1) * SIZE), true);

test('an update is one write of one whole copy, then fsync, and reads back', async () => {
  await initBootEnv(redundant(), { bootcmd: 'boot' }, fs);
  fs.writes.length = 0;
  fs.syncs = 0;
  const vars = await openBootEnv(redundant(), fs).update({ upgrade_available: '1', bootcount: '0', slotflip_slot: 'b' });
  assert.deepEqual(fs.writes, [{ file, position: SIZE, length: SIZE }]);
  assert.equal(fs.syncs, 1);
  assert.deepEqual([...vars], [['bootcmd', 'boot'], ['bootcount', '0'], ['slotflip_slot', 'b'], ['upgrade_available', '1']]);
  assert.deepEqual(await openBootEnv(redundant(), fs).read(), vars);
});

test('an update that changes nothing writes nothing', async () => {
  await initBootEnv(redundant(), { a: '1' }, fs);
  fs.writes.length = 0;
  await openBootEnv(redundant(), fs).update({ a: '1', missing: null });
  assert.equal(fs.writes.length, 0);
});

test('redundant writes alternate between the copies and count the flags up', async () => {
  await initBootEnv(redundant(), { n: '0' }, fs);
  assert.deepEqual([copyAt(0).flags, copyAt(1).flags], [1, 0]);
  const env = openBootEnv(redundant(), fs);
  fs.writes.length = 0;
  for (let i = 1; i <= 4; i++) await env.update({ n: String(i) });
  assert.deepEqual(fs.writes.map((w) => w.position), [SIZE, 0, SIZE, 0]);
  assert.deepEqual([copyAt(0).flags, copyAt(1).flags], [5, 4]);
  assert.equal((await env.read()).get('n'), '4');
});

test('a single copy is rewritten in place', async () => {
  await initBootEnv(single(), { a: '1' }, fs);
  fs.writes.length = 0;
  await openBootEnv(single(), fs).update({ a: '2' });
  assert.deepEqual(fs.writes, [{ file, position: 0, length: SIZE }]);
  const image = readFileSync(file);
  assert.equal(image.length, SIZE);
  assert.equal(image.readUInt32LE(0), crc32(image.subarray(4)));
});

test('a write torn by a power cut leaves the previous copy current', async () => {
  await initBootEnv(redundant(), { slot: 'a' }, fs);
  const env = openBootEnv(redundant(), fs);
  await env.update({ slot: 'b' }); // now in copy 1
  fs.tearNextWrite(100); // the next update goes to copy 0: CRC and part of the data only
  await assert.rejects(env.update({ slot: 'c', extra: 'x'.repeat(500) }), (e: any) => e.code === 'SF_ERR_IO' && /power cut/.test(e.cause.message));
  assert.equal(copyAt(0).crcOk, false);
  assert.deepEqual([...(await env.read())], [['slot', 'b']]);
  // The next update goes to the torn copy again (the inactive one), never over the good one.
  fs.writes.length = 0;
  await env.update({ slot: 'd' });
  assert.deepEqual(fs.writes.map((w) => w.position), [0]);
  assert.equal(copyAt(1).crcOk, true);
});

test('one copy with a bad CRC: the other one is read, whichever it is', async () => {
  await initBootEnv(redundant(), { v: 'old' }, fs);
  await openBootEnv(redundant(), fs).update({ v: 'new' }); // copy 1, flags 2
  const bytes = readFileSync(file);
  bytes[SIZE + 10] ^= 0xff; // corrupt the newer copy
  writeFileSync(file, bytes);
  assert.equal((await openBootEnv(redundant(), fs).read()).get('v'), 'old');
});

test('both copies bad is SF_ERR_ENV_CRC, never a default environment', async () => {
  writeFileSync(file, Buffer.alloc(2 * SIZE, 0xff));
  await assert.rejects(openBootEnv(redundant(), fs).read(), (e: unknown) => e instanceof EnvCrcError && e.code === 'SF_ERR_ENV_CRC');
  await assert.rejects(openBootEnv(redundant(), fs).update({ a: '1' }), EnvCrcError);
  assert.ok(readFileSync(file).equals(Buffer.alloc(2 * SIZE, 0xff)), 'nothing written');
  writeFileSync(file, Buffer.alloc(SIZE));
  await assert.rejects(openBootEnv(single(), fs).read(), EnvCrcError);
});

test('flags wrap-around: 0 is newer than 255, and the write after 255 carries 0', async () => {
  const image = (v: string, flags: number) => encodeImage(encodeData(new Map([['v', v]]), SIZE - 5), true, flags);
  writeFileSync(file, Buffer.concat([image('at255', 255), image('at0', 0)]));
  assert.equal((await openBootEnv(redundant(), fs).read()).get('v'), 'at0');
  writeFileSync(file, Buffer.concat([image('at254', 254), image('at255', 255)]));
  const env = openBootEnv(redundant(), fs);
  assert.equal((await env.read()).get('v'), 'at255');
  await env.update({ v: 'next' });
  assert.deepEqual([copyAt(0).flags, copyAt(1).flags], [0, 255]);
  assert.equal((await env.read()).get('v'), 'next');
});

test('negative offsets count back from the end of a regular file', async () => {
  writeFileSync(file, Buffer.alloc(5 * SIZE, 0xaa));
  const loc: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: -2 * SIZE, size: SIZE }, { device: file, offset: -SIZE, size: SIZE }] };
  await initBootEnv(loc, { a: '1' }, fs);
  const bytes = readFileSync(file);
  assert.equal(bytes.length, 5 * SIZE);
  assert.ok(bytes.subarray(0, 3 * SIZE).equals(Buffer.alloc(3 * SIZE, 0xaa)), 'bytes before the env untouched');
  assert.equal(decodeImage(bytes.subarray(3 * SIZE, 4 * SIZE), true).crcOk, true);
  assert.equal((await openBootEnv(loc, fs).update({ b: '2' })).get('b'), '2');
  assert.equal(fs.writes.at(-1)!.position, 4 * SIZE);
});

test('negative offsets on a block device use the size sysfs reports', async () => {
  writeFileSync(file, Buffer.alloc(4 * SIZE));
  fs.asBlockDevice(file);
  const loc: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: -SIZE, size: SIZE }] };
  await initBootEnv(loc, { on: 'block' }, fs);
  assert.equal(fs.writes.at(-1)!.position, 3 * SIZE);
  assert.equal((await openBootEnv(loc, fs).read()).get('on'), 'block');
});

test('an eMMC boot partition is made writable for the write and read-only again after', async () => {
  const dev = join(dir, 'mmcblk0boot1');
  writeFileSync(dev, Buffer.alloc(2 * SIZE));
  fs.asBlockDevice(dev);
  fs.sysfs.set('/sys/class/block/mmcblk0boot1/force_ro', '1\n');
  const loc: EnvLocation = { backend: 'uboot', copies: [{ device: dev, offset: 0, size: SIZE }, { device: dev, offset: SIZE, size: SIZE }] };
  await initBootEnv(loc, { a: '1' }, fs);
  await openBootEnv(loc, fs).update({ a: '2' });
  const flag = '/sys/class/block/mmcblk0boot1/force_ro';
  assert.deepEqual(fs.sysfsWrites, [`${flag}=0`, `${flag}=1`, `${flag}=0`, `${flag}=1`, `${flag}=0`, `${flag}=1`]);
  assert.equal(fs.sysfs.get(flag), '1');
});

test('geometry that does not hold is SF_ERR_ENV_GEOMETRY before any write', async () => {
  writeFileSync(file, Buffer.alloc(SIZE + 100));
  const geometry = (e: unknown) => e instanceof EnvGeometryError && e.code === 'SF_ERR_ENV_GEOMETRY';
  await assert.rejects(openBootEnv(redundant(), fs).read(), geometry, 'device shorter than offset+size');
  const uneven: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: 0, size: SIZE }, { device: file, offset: SIZE, size: SIZE / 2 }] };
  await assert.rejects(openBootEnv(uneven, fs).read(), geometry, 'copies of different sizes');
  const overlap: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: 0, size: SIZE }, { device: file, offset: SIZE / 2, size: SIZE }] };
  await assert.rejects(initBootEnv(overlap, {}, fs), geometry, 'overlapping copies');
  const tiny: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: 0, size: 5 }] };
  await assert.rejects(openBootEnv(tiny, fs).read(), geometry, 'no room for a header');
  const unaligned: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: 100, size: 0x1000, sectorSize: 0x1000 }] };
  await assert.rejects(openBootEnv(unaligned, fs).read(), geometry, 'not on a sector boundary');
  const before: EnvLocation = { backend: 'uboot', copies: [{ device: file, offset: -(SIZE * 4), size: SIZE }] };
  await assert.rejects(openBootEnv(before, fs).read(), geometry, 'negative offset before the start');
  assert.equal(fs.writes.length, 0);
});

test('variables that do not fit are SF_ERR_ENV_TOO_LARGE and the env stays as it was', async () => {
  await initBootEnv(redundant(), { a: '1' }, fs);
  const before = readFileSync(file);
  fs.writes.length = 0;
  await assert.rejects(openBootEnv(redundant(), fs).update({ big: 'x'.repeat(SIZE) }), (e: unknown) => e instanceof EnvTooLargeError && e.code === 'SF_ERR_ENV_TOO_LARGE');
  assert.equal(fs.writes.length, 0);
  assert.ok(readFileSync(file).equals(before));
});

test('bad names and values are refused before anything is read or written', async () => {
  await initBootEnv(single(), { a: '1' }, fs);
  fs.writes.length = 0;
  const bads: Record<string, string>[] = [{ 'a=b': '1' }, { '': '1' }, { 'a\0': '1' }, { a: 'x\0y' }];
  for (const changes of bads) {
    await assert.rejects(openBootEnv(single(), fs).update(changes), EnvVariableError, JSON.stringify(changes));
  }
  assert.equal(fs.writes.length, 0);
});

test('bytes that are not UTF-8 in untouched variables survive an update', async () => {
  const raw = Buffer.concat([Buffer.from('bin=', 'latin1'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\0u=\u00fc\0\0', 'latin1')]);
  const data = Buffer.alloc(SIZE - 4);
  raw.copy(data);
  writeFileSync(file, encodeImage(data, false));
  await openBootEnv(single(), fs).update({ added: 'grün' });
  const after = decodeImage(readFileSync(file), false).data;
  assert.ok(after.includes(Buffer.from([0x62, 0x69, 0x6e, 0x3d, 0xff, 0xfe, 0x80, 0x00])), 'raw bytes kept');
  assert.ok(after.includes(Buffer.from('added=grün\0', 'utf8')), 'new value stored as UTF-8');
});
