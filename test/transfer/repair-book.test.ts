// The publisher's repair accounting: the fleet is owed the largest shortfall of any device,
// rows in flight or queued count, and large losses go back to plain chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bitmap } from '../../src/transfer/bitmap.js';
import { RepairBook } from '../../src/transfer/repair-book.js';
import { makeRelease } from './support.js';

const rel = makeRelease(128 * 4096, 4096, [], 41); // two generations of 64
const bits = (...chunks: number[]): Bitmap => {
  const b = new Bitmap(128);
  for (const c of chunks) b.add(c);
  return b;
};
const read = async (_p: number, i: number) => rel.payload.subarray(i * 4096, (i + 1) * 4096);

async function drain(book: RepairBook, firstSeq: number): Promise<{ start: number; row: number; seq: number }[]> {
  const out = [];
  let seq = firstSeq;
  while (book.hasWork()) {
    const r = book.peek() ?? (await book.encodeNext(read));
    assert.ok(r);
    book.take();
    book.sent(r, ++seq);
    out.push({ start: r.gen.start, row: r.row, seq });
  }
  return out;
}

test('devices short of 2, 3 and 1 rows of a generation are owed 3 fresh rows in all', async () => {
  const book = new RepairBook([rel.table], {});
  assert.equal(book.owe(0, bits(1, 2), 10, []).count, 0);
  assert.equal(book.owe(0, bits(5, 6, 7), 10, []).count, 0);
  assert.equal(book.owe(0, bits(9), 10, []).count, 0);
  const sent = await drain(book, 10);
  assert.deepEqual(sent.map((s) => [s.start, s.row]), [[0, 0], [0, 1], [0, 2]]);
});

test('rows sent after the device\'s seq are in flight to it; rows it holds count too', async () => {
  const book = new RepairBook([rel.table], {});
  book.owe(0, bits(1, 2), 10, []);
  await drain(book, 10); // rows 0, 1 as seq 11, 12
  // A device that handled up to seq 11 and lost 2 chunks of the first generation has row 1
  // on its way: one more row there, and one for its loss in the second generation.
  book.owe(0, bits(3, 4, 70), 11, []);
  // One that handled everything and holds one row is short of one, which the owed row covers.
  book.owe(0, bits(5, 6), 14, [{ payload: 0, start: 0, size: 64, count: 1 }]);
  const sent = await drain(book, 12);
  assert.deepEqual(sent.map((s) => [s.start, s.row]), [[0, 2], [64, 0]]);
});

test('a device lacking more than a quarter of a generation gets the chunks themselves', () => {
  const book = new RepairBook([rel.table], {});
  const lots = Array.from({ length: 17 }, (_, k) => 64 + k);
  const direct = book.owe(0, bits(3, ...lots), 0, []);
  assert.deepEqual(direct.ranges(true), [[64, 81]]);
  assert.ok(book.hasWork()); // chunk 3 still by a row
});

test('rows of a generation are never reused: past 128 the chunks go directly', async () => {
  const book = new RepairBook([rel.table], { generation: 64 });
  let seq = 0;
  for (let round = 0; round < 9; round++) {
    const lost = Array.from({ length: 16 }, (_, k) => k);
    const direct = book.owe(0, bits(...lost), seq, []);
    if (round < 8) assert.equal(direct.count, 0, `round ${round}`);
    else assert.equal(direct.count, 16, 'rows 0..127 are spent');
    seq = (await drain(book, seq)).at(-1)?.seq ?? seq;
  }
  assert.throws(() => new RepairBook([rel.table], { generation: 129 }), RangeError);
});
