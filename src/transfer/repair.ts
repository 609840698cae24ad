// Repair frames: an erasure code over the chunks of a payload, so one frame on the shared
// stream repairs a different lost chunk at every device that lost one. Chunks are grouped in
// generations of up to 128 consecutive chunks; repair row r of a generation is
//   sum over its chunks i of C[r][i] * chunk_i   (in GF(256), chunks zero-padded to chunkSize)
// with the Cauchy matrix C[r][i] = 1 / ((128 + r) XOR i). Every square submatrix of a Cauchy
// matrix is invertible, so a device that lacks m chunks of a generation rebuilds them from ANY
// m distinct rows: every fresh row is useful to every device still short of one.

import { gfInv, invertMatrix, mulAdd } from './gf256.js';

/** Chunks per generation at most (row and column labels must stay disjoint in GF(256)). */
export const MAX_GENERATION = 128;
/** Distinct repair rows per generation. */
export const MAX_ROWS = 128;
/** Default generation size: decode cost per lost chunk grows with it, repair overhead falls. */
export const DEFAULT_GENERATION = 64;

export function coefficient(row: number, column: number): number {
  return gfInv((MAX_GENERATION + row) ^ column);
}

export interface Generation {
  /** First chunk index. */
  start: number;
  /** Chunks in it (the last generation of a payload may be shorter). */
  size: number;
}

/** The generation holding chunk `i` when a payload of `count` chunks is cut every `size` chunks. */
export function generationOf(i: number, count: number, size: number): Generation {
  const start = i - (i % size);
  return { start, size: Math.min(size, count - start) };
}

/**
 * Builds repair rows `rows` of one generation. `read(i)` returns source chunk `i` (index within
 * the payload), or undefined for an all-zero chunk, which adds nothing. Each row is chunkSize
 * bytes; a short chunk counts as zero-padded.
 */
export async function encodeRows(gen: Generation, rows: readonly number[], chunkSize: number, read: (i: number) => Promise<Uint8Array | undefined>): Promise<Buffer[]> {
  const out = rows.map(() => Buffer.alloc(chunkSize));
  for (let c = 0; c < gen.size; c++) {
    const data = await read(gen.start + c);
    if (!data) continue;
    rows.forEach((r, k) => mulAdd(out[k]!, data, coefficient(r, c)));
  }
  return out;
}

export interface HeldRow {
  row: number;
  data: Uint8Array;
}

/**
 * Rebuilds the `missing` chunks of a generation from exactly missing.length held rows.
 * `read(i)` returns a chunk the device has (undefined: all zeros). Returns chunkSize-byte
 * buffers in the order of `missing`; the caller trims them and checks each CRC.
 */
export async function decodeRows(
  gen: Generation,
  missing: readonly number[],
  held: readonly HeldRow[],
  chunkSize: number,
  read: (i: number) => Promise<Uint8Array | undefined>,
): Promise<Buffer[]> {
  if (held.length !== missing.length) throw new RangeError(`${missing.length} chunks need as many rows, got ${held.length}`);
  const acc = held.map((h) => Buffer.from(h.data));
  // Take out what the device knows: acc_r = row_r - sum over known chunks of C[r][i] * chunk_i.
  const lost = new Set(missing);
  for (let c = 0; c < gen.size; c++) {
    const i = gen.start + c;
    if (lost.has(i)) continue;
    const data = await read(i);
    if (!data) continue;
    held.forEach((h, k) => mulAdd(acc[k]!, data, coefficient(h.row, c)));
  }
  // What is left is C[rows][missing] x = acc; solve with the inverse.
  const inv = invertMatrix(held.map((h) => missing.map((i) => coefficient(h.row, i - gen.start))));
  if (!inv) throw new RangeError('repair rows are not independent'); // impossible for a Cauchy matrix with distinct rows
  return missing.map((_, b) => {
    const x = Buffer.alloc(chunkSize);
    inv[b]!.forEach((c, a) => mulAdd(x, acc[a]!, c));
    return x;
  });
}
