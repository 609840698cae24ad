// Bitmaps and their persistence: ranges, scans, atomic store, damaged files ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import fc from 'fast-check';
import { Bitmap } from '../../src/transfer/bitmap.js';
import { BitmapStore, bitmapPath } from '../../src/transfer/bitmap-store.js';
import { realFs } from '../../src/platform/fs.js';
import { tempDir } from './support.js';

test('ranges of set and clear bits partition the bitmap', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(), { maxLength: 100 }), (size, picks) => {
      const b = new Bitmap(size);
      const want = new Set(picks.map((p) => p % size));
      for (const i of want) b.add(i);
      assert.equal(b.count, want.size);
      const covered: boolean[] = [];
      for (const [from, to] of b.ranges(true)) for (let i = from; i < to; i++) covered[i] = true;
      for (const [from, to] of b.ranges(false)) for (let i = from; i < to; i++) assert.equal(covered[i], undefined);
      for (let i = 0; i < size; i++) assert.equal(covered[i] === true, want.has(i));
      assert.equal(b.inverted().count, size - want.size);
    }),
  );
});

test('a stored bitmap loads back; a damaged or foreign file counts as nothing received', async () => {
  const dir = await tempDir();
  try {
    const shape = { releaseId: '0123456789abcdef', payloads: [{ index: 0, count: 20, chunkSize: 4096 }, { index: 2, count: 9, chunkSize: 8192 }] };
    const store = new BitmapStore(realFs, path.join(dir, 'data'), shape);
    const maps = await store.load(() => assert.fail('no file yet is not damage'));
    maps.get(0)!.addRange(3, 11);
    maps.get(2)!.add(8);
    await store.save(maps);
    const back = await store.load(() => assert.fail('file should be intact'));
    assert.deepEqual(back.get(0)!.ranges(true), [[3, 11]]);
    assert.deepEqual(back.get(2)!.ranges(true), [[8, 9]]);

    const file = bitmapPath(path.join(dir, 'data'), shape.releaseId);
    const raw = await fsp.readFile(file);
    raw[raw.length - 6] ^= 1;
    await fsp.writeFile(file, raw);
    const reasons: string[] = [];
    const damaged = await store.load((r) => reasons.push(r));
    assert.equal(damaged.get(0)!.count + damaged.get(2)!.count, 0);
    assert.match(reasons[0]!, /CRC-32/);

    const other = new BitmapStore(realFs, path.join(dir, 'data'), { ...shape, payloads: [{ index: 0, count: 21, chunkSize: 4096 }, shape.payloads[1]!] });
    await store.save(maps);
    await other.load((r) => reasons.push(r));
    assert.match(reasons[1]!, /payload 0 has another chunk layout/);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
