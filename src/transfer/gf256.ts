// Arithmetic in GF(2^8) (polynomial x^8 + x^4 + x^3 + x^2 + 1, 0x11d, generator 2), the field
// of the repair frames' erasure code: addition is XOR, multiplication goes through log/exp
// tables, and a 64 KiB product table makes "dst ^= c * src" one lookup per byte.

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(256)');
  return EXP[255 - LOG[a]!]!;
}

let products: Uint8Array | undefined;

/** Row c of the product table: row[x] = c * x. Built on first use (64 KiB). */
function productRow(c: number): Uint8Array {
  if (!products) {
    products = new Uint8Array(256 * 256);
    for (let a = 1; a < 256; a++) for (let b = 1; b < 256; b++) products[a * 256 + b] = EXP[LOG[a]! + LOG[b]!]!;
  }
  return products.subarray(c * 256, c * 256 + 256);
}

/** dst[k] ^= c * src[k] for k < src.length (dst must be at least as long). */
export function mulAdd(dst: Uint8Array, src: Uint8Array, c: number): void {
  const n = src.length;
  if (c === 0) return;
  if (c === 1) {
    xorInto(dst, src);
    return;
  }
  const row = productRow(c);
  let k = 0;
  if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    // Four lookups per 32-bit word: about 2.5 times the byte loop's speed in V8.
    const words = n >>> 2;
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, words);
    const s32 = new Uint32Array(src.buffer, src.byteOffset, words);
    for (let w = 0; w < words; w++) {
      const v = s32[w]!;
      d32[w] ^= row[v & 255]! | (row[(v >>> 8) & 255]! << 8) | (row[(v >>> 16) & 255]! << 16) | (row[v >>> 24]! << 24);
    }
    k = words << 2;
  }
  for (; k < n; k++) dst[k] ^= row[src[k]!]!;
}

/** dst ^= src, a word at a time where both are 4-byte aligned. */
function xorInto(dst: Uint8Array, src: Uint8Array): void {
  const n = src.length;
  let k = 0;
  if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, words);
    const s32 = new Uint32Array(src.buffer, src.byteOffset, words);
    for (let w = 0; w < words; w++) d32[w] ^= s32[w]!;
    k = words << 2;
  }
  for (; k < n; k++) dst[k] ^= src[k]!;
}

/**
 * Inverts the n×n matrix `m` (rows of numbers in GF(256)) by Gauss-Jordan elimination.
 * Returns undefined when it is singular.
 */
export function invertMatrix(m: readonly (readonly number[])[]): number[][] | undefined {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && a[pivot]![col] === 0) pivot++;
    if (pivot === n) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const prow = a[col]!;
    const inv = gfInv(prow[col]!);
    for (let k = 0; k < 2 * n; k++) prow[k] = gfMul(prow[k]!, inv);
    for (let r = 0; r < n; r++) {
      if (r === col || a[r]![col] === 0) continue;
      const row = a[r]!;
      const f = row[col]!;
      for (let k = 0; k < 2 * n; k++) row[k]! ^= gfMul(f, prow[k]!);
    }
  }
  return a.map((row) => row.slice(n));
}
