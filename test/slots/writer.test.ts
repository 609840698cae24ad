import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { realFs } from '../../src/platform/fs.js';
import { SlotWriter, writeStream } from '../../src/slots/writer.js';
import { verifySlot } from '../../src/slots/readback.js';
import type { SlotDevice } from '../../src/board/profile.js';

async function tmp(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'sf-slots-'));
}

const file = (device: string, size?: number): SlotDevice => (size === undefined ? { device, type: 'file' } : { device, type: 'file', size });

test('a payload streamed in odd-sized pieces lands byte-exact and reads back', async () => {
  const dir = await tmp();
  const data = randomBytes(3 * 1024 * 1024 + 123);
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += 77777) pieces.push(data.subarray(i, i + 77777));
  const w = await SlotWriter.open(realFs, file(path.join(dir, 'b.img')), file(path.join(dir, 'a.img')));
  const seen: number[] = [];
  const n = await writeStream(w, Readable.from(pieces), { bufferSize: 1 << 20, expectedSize: data.length, onProgress: (x) => seen.push(x) });
  await w.close();
  assert.equal(n, data.length);
  assert.deepEqual(await fsp.readFile(path.join(dir, 'b.img')), data);
  assert.equal(seen.at(-1), data.length);
  await verifySlot(realFs, path.join(dir, 'b.img'), data.length, createHash('sha256').update(data).digest('hex'), 65536);
});

test('the booted slot is never opened for writing, also under another name', async () => {
  const dir = await tmp();
  const a = path.join(dir, 'a.img');
  await fsp.writeFile(a, 'running system');
  await fsp.link(a, path.join(dir, 'alias.img'));
  for (const target of [a, path.join(dir, 'alias.img')]) {
    await assert.rejects(SlotWriter.open(realFs, file(target), file(a)), { code: 'SF_ERR_SLOT_ACTIVE' });
  }
  assert.equal(await fsp.readFile(a, 'utf8'), 'running system');
});

test('a payload larger than the slot is refused before a byte is written', async () => {
  const dir = await tmp();
  const b = path.join(dir, 'b.img');
  const w = await SlotWriter.open(realFs, file(b, 1000), file(path.join(dir, 'a.img')));
  await assert.rejects(writeStream(w, Readable.from([Buffer.alloc(2000, 1)]), { bufferSize: 4096, expectedSize: 2000 }), { code: 'SF_ERR_SLOT_TOO_SMALL' });
  await assert.rejects(w.write(Buffer.alloc(10), 995), { code: 'SF_ERR_SLOT_TOO_SMALL' });
  await w.close();
  assert.equal((await fsp.stat(b)).size, 0);
});

test('read-back catches content that differs from the signed digest', async () => {
  const dir = await tmp();
  const b = path.join(dir, 'b.img');
  const data = randomBytes(100000);
  await fsp.writeFile(b, data);
  const digest = createHash('sha256').update(data).digest('hex');
  await verifySlot(realFs, b, data.length, digest, 4096);
  const fh = await fsp.open(b, 'r+');
  await fh.write(Buffer.from([data[5000]! ^ 1]), 0, 1, 5000);
  await fh.close();
  await assert.rejects(verifySlot(realFs, b, data.length, digest, 4096), { code: 'SF_ERR_READBACK' });
  await assert.rejects(verifySlot(realFs, b, data.length + 10, digest, 4096), { code: 'SF_ERR_READBACK' });
});

test('writeZeros fills a range with zeros', async () => {
  const dir = await tmp();
  const b = path.join(dir, 'b.img');
  await fsp.writeFile(b, Buffer.alloc(3 << 20, 0xff));
  const w = await SlotWriter.open(realFs, file(b), file(path.join(dir, 'a.img')));
  await w.writeZeros(1000, (2 << 20) + 5);
  await w.datasync();
  await w.close();
  const got = await fsp.readFile(b);
  assert.equal(got[999], 0xff);
  assert.ok(got.subarray(1000, 1000 + (2 << 20) + 5).every((x) => x === 0));
  assert.equal(got[1000 + (2 << 20) + 5], 0xff);
});
