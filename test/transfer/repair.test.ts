import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gfInv, gfMul, invertMatrix, mulAdd } from '../../src/transfer/gf256.js';
import { coefficient, decodeRows, encodeRows, generationOf, MAX_GENERATION, MAX_ROWS } from '../../src/transfer/repair.js';

test('GF(256): every non-zero element times its inverse is 1, and multiplication distributes over XOR', () => {
  for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInv(a)), 1);
  for (const [a, b, c] of [[3, 7, 200], [255, 254, 1], [0x53, 0xca, 0x11]] as const) assert.equal(gfMul(a, b ^ c), gfMul(a, b) ^ gfMul(a, c));
  assert.equal(gfMul(0x53, 0xca), gfMul(0xca, 0x53));
});

test('mulAdd: the word path, the byte tail and a misaligned view agree with gfMul', () => {
  const src = randomBytes(1027);
  for (const offset of [0, 1]) {
    const view = new Uint8Array(src.buffer, src.byteOffset + offset, 1021);
    const dst = new Uint8Array(1021).fill(9);
    mulAdd(dst, view, 0x8e);
    for (let k = 0; k < view.length; k++) assert.equal(dst[k], 9 ^ gfMul(0x8e, view[k]!));
  }
});

test('invertMatrix: every square Cauchy submatrix is invertible; a singular matrix is reported', () => {
  const rows = [0, 5, 127, 64];
  const cols = [0, 1, 100, 127];
  const m = rows.map((r) => cols.map((c) => coefficient(r, c)));
  const inv = invertMatrix(m)!;
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v ^= gfMul(m[i]![k]!, inv[k]![j]!);
      assert.equal(v, i === j ? 1 : 0);
    }
  }
  assert.equal(invertMatrix([[1, 2], [1, 2]]), undefined);
});

test('generationOf: consecutive chunks, the last generation shorter', () => {
  assert.deepEqual(generationOf(0, 200, 64), { start: 0, size: 64 });
  assert.deepEqual(generationOf(130, 200, 64), { start: 128, size: 64 });
  assert.deepEqual(generationOf(199, 200, 64), { start: 192, size: 8 });
});

test('any m rows rebuild any m lost chunks of a generation, zero and short chunks included', async () => {
  const chunkSize = 4096;
  const count = 40;
  const chunks = Array.from({ length: count }, (_, i) => (i % 7 === 3 ? undefined : randomBytes(i === count - 1 ? 1000 : chunkSize)));
  const gen = { start: 0, size: count };
  const read = async (i: number) => chunks[i];
  for (const [missing = [], rows = []] of [
    [[0], [0]],
    [[1, 2, 39], [9, 3, 127]],
    [[5, 6, 8, 9, 11, 12, 13, 14, 15], [1, 2, 3, 4, 5, 6, 7, 8, 100]],
  ] as number[][][]) {
    const encoded = await encodeRows(gen, rows, chunkSize, read);
    const rebuilt = await decodeRows(gen, missing, rows.map((row, k) => ({ row, data: encoded[k]! })), chunkSize, async (i) => {
      assert.ok(!missing.includes(i), 'the decoder must not read a chunk it lacks');
      return chunks[i];
    });
    missing.forEach((i, b) => {
      const want = Buffer.alloc(chunkSize);
      chunks[i]?.copy(want);
      assert.deepEqual(rebuilt[b], want, `chunk ${i}`);
    });
  }
  assert.ok(MAX_GENERATION + MAX_ROWS <= 256);
});

test('a generation that does not start at chunk 0 uses columns relative to its start', async () => {
  const chunkSize = 64;
  const chunks = Array.from({ length: 200 }, () => randomBytes(chunkSize));
  const gen = generationOf(150, 200, 64);
  const read = async (i: number) => chunks[i];
  const [row] = await encodeRows(gen, [17], chunkSize, read);
  const [got] = await decodeRows(gen, [150], [{ row: 17, data: row! }], chunkSize, read);
  assert.deepEqual(got, chunks[150]);
});
