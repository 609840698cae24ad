// Recipes for damaged bundles shared by the bundle, locate and install fuzz tests: random bytes,
// byte edits of a valid bundle, header fields rewritten with a fixed checksum, and entry lists
// (stray, duplicated, reordered, missing entries, links, devices, pax records) packed by
// tar-stream, with or without the end-of-archive marker.

import fc from 'fast-check';
import { applyEdits, byteEdit } from './mutate.js';
import { applyHeaderEdits, headerEdit, packTar, strayEntry, type PackEntry } from './tar.js';
import type { BaseBundle } from './bundles.js';

/** How a case's bundle bytes are made; built inside the property (packing is asynchronous). */
export type Recipe =
  | { kind: 'random'; bytes: Uint8Array }
  | { kind: 'bytes'; base: number; edits: Parameters<typeof applyEdits>[1] }
  | { kind: 'headers'; base: number; edits: Parameters<typeof applyHeaderEdits>[1]; after: Parameters<typeof applyEdits>[1] }
  | { kind: 'entries'; base: number; ops: EntryOp[]; finalize: boolean; after: Parameters<typeof applyEdits>[1] };

type EntryOp =
  | { op: 'insert'; at: number; entry: PackEntry }
  | { op: 'duplicate'; at: number; to: number }
  | { op: 'delete'; at: number }
  | { op: 'swap'; at: number; with: number }
  | { op: 'body'; at: number; body: Uint8Array; keepSize: boolean };

const entryOp: fc.Arbitrary<EntryOp> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), entry: strayEntry }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ op: fc.constant('body' as const), at: fc.nat(), body: fc.uint8Array({ maxLength: 300 }), keepSize: fc.boolean() }),
);

export function recipeArb(bases: readonly BaseBundle[]): fc.Arbitrary<Recipe> {
  const baseIndex = fc.nat({ max: bases.length - 1 });
  return fc.oneof(
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ minLength: 1024, maxLength: 1024 }).map((b) => b.fill(0))) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('bytes' as const), base: baseIndex, edits: fc.array(byteEdit, { minLength: 1, maxLength: 4 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('headers' as const), base: baseIndex, edits: fc.array(headerEdit, { minLength: 1, maxLength: 3 }), after: fc.array(byteEdit, { maxLength: 1 }) }) },
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('entries' as const), base: baseIndex, ops: fc.array(entryOp, { minLength: 0, maxLength: 3 }), finalize: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), after: fc.array(byteEdit, { maxLength: 1 }) }),
    },
  );
}

/** The base's entries as a list to edit: manifest, signature, payloads in manifest order. */
function entriesOf(b: BaseBundle): PackEntry[] {
  return [
    { name: 'manifest.json', body: b.manifestBytes },
    { name: 'manifest.sig', body: b.sigBytes },
    ...b.manifest.payloads.map((p) => ({ name: `payloads/${p.name}`, body: b.payloads.get(p.name)! })),
  ];
}

function applyEntryOps(list: PackEntry[], ops: readonly EntryOp[]): PackEntry[] {
  const l = [...list];
  for (const o of ops) {
    const n = l.length;
    if (o.op === 'insert') l.splice(o.at % (n + 1), 0, o.entry);
    else if (!n) continue;
    else if (o.op === 'duplicate') l.splice(o.to % (n + 1), 0, l[o.at % n]!);
    else if (o.op === 'delete') l.splice(o.at % n, 1);
    else if (o.op === 'swap') [l[o.at % n], l[o.with % n]] = [l[o.with % n]!, l[o.at % n]!];
    else {
      const e = l[o.at % n]!;
      const body = Buffer.from(o.body);
      const old = e.body ?? Buffer.alloc(0);
      l[o.at % n] = { ...e, body: o.keepSize ? Buffer.concat([body, old.subarray(body.length)]).subarray(0, old.length) : body };
    }
  }
  return l;
}

export async function buildRecipe(r: Recipe, from: readonly BaseBundle[]): Promise<Buffer> {
  switch (r.kind) {
    case 'random':
      return Buffer.from(r.bytes);
    case 'bytes':
      return applyEdits(from[r.base]!.bytes, r.edits);
    case 'headers':
      return applyEdits(applyHeaderEdits(from[r.base]!.bytes, r.edits), r.after);
    case 'entries':
      return applyEdits(await packTar(applyEntryOps(entriesOf(from[r.base]!), r.ops), r.finalize), r.after);
  }
}

