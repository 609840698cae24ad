// Mutators for the fuzz tests: byte-level edits of a valid input (flips, overwrites, inserts,
// deletions, truncation, appended garbage, duplicated ranges) and value-level edits of a
// valid JSON document (a field replaced, removed or added), so cases reach past the first
// check of a parser instead of dying at its magic number.

import fc from 'fast-check';

export type ByteEdit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'append'; bytes: Uint8Array }
  | { op: 'duplicate'; at: number; length: number; to: number };

const pos = fc.nat({ max: 0x7fffffff });

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at: pos, value: fc.constantFrom(0, 0xff, 0x20, 0x30, 0x37, 0x80, 0x2f, 0x2e).chain((v) => fc.oneof(fc.constant(v), fc.integer({ min: 0, max: 255 }))) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: pos, length: fc.integer({ min: 1, max: 1200 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: pos }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 1100 }), fc.integer({ min: 1, max: 3 }).map((n) => new Uint8Array(512 * n))) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: pos, length: fc.integer({ min: 1, max: 3000 }), to: pos }) },
);

/** Applies edits in order; positions wrap modulo the current length. */
export function applyEdits(input: Uint8Array, edits: readonly ByteEdit[]): Buffer {
  let b = Buffer.from(input);
  for (const e of edits) {
    const n = b.length;
    switch (e.op) {
      case 'flip':
        if (n) b[e.at % n]! ^= 1 << e.bit;
        break;
      case 'set':
        if (n) b[e.at % n] = e.value;
        break;
      case 'insert': {
        const at = e.at % (n + 1);
        b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
        break;
      }
      case 'delete': {
        const at = n ? e.at % n : 0;
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, e.at % (n + 1));
        break;
      case 'append':
        b = Buffer.concat([b, e.bytes]);
        break;
      case 'duplicate': {
        const at = n ? e.at % n : 0;
        const to = e.to % (n + 1);
        const piece = Buffer.from(b.subarray(at, at + e.length));
        b = Buffer.concat([b.subarray(0, to), piece, b.subarray(to)]);
        break;
      }
    }
  }
  return b;
}

/** A mutated copy of one of `bases` (1 to `max` edits). */
export function mutatedBytes(bases: readonly Uint8Array[], max = 4): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(byteEdit, { minLength: 1, maxLength: max })).map(([i, edits]) => applyEdits(bases[i]!, edits));
}

/** JSON values that tend to break validators: wrong types, edges of ranges, odd strings. */
export const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1, 0.5, -0, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, Number.MAX_SAFE_INTEGER, '', ' ', '0', '-1', 'a', '..', '../x', '/abs', '\u0000', 'NaN', '1e3', [], {}, [[]], [0, 0], [1, 0], [0, 1e9], ['a']),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double(),
);

export type JsonEdit = { path: number[]; kind: 'replace' | 'delete' | 'add'; value: unknown; key: string };

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  path: fc.array(fc.nat(), { minLength: 0, maxLength: 5 }),
  kind: fc.constantFrom('replace' as const, 'replace' as const, 'delete' as const, 'add' as const),
  value: nastyValue,
  key: fc.oneof(fc.constantFrom('extra', '__proto__', 'constructor', 'v', 'size', 'name'), fc.string({ maxLength: 8 })),
});

/** Walks `path` (indexes into keys or items, wrapped) and edits the value found there. */
export function applyJsonEdit(doc: unknown, e: JsonEdit): unknown {
  const root = structuredClone(doc);
  let parent: Record<string, unknown> | unknown[] | undefined;
  let key: string | number | undefined;
  let cur: unknown = root;
  for (const step of e.path) {
    if (cur === null || typeof cur !== 'object') break;
    const keys = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
    if (!keys.length) break;
    parent = cur as Record<string, unknown>;
    key = keys[step % keys.length]!;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  if (e.kind === 'add') {
    if (cur !== null && typeof cur === 'object') {
      if (Array.isArray(cur)) cur.push(e.value);
      else Object.defineProperty(cur, e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
      return root;
    }
  }
  if (parent === undefined || key === undefined) return e.kind === 'delete' ? {} : e.value;
  if (e.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else {
    (parent as Record<string | number, unknown>)[key] = e.value;
  }
  return root;
}

/** A valid JSON document of `bases`, edited 1 to `max` times. */
export function mutatedJson(bases: readonly unknown[], max = 3): fc.Arbitrary<unknown> {
  return fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(jsonEdit, { minLength: 1, maxLength: max })).map(([i, edits]) => edits.reduce((d, e) => applyJsonEdit(d, e), bases[i]));
}
