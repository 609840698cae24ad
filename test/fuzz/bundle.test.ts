// Fuzzing the bundle reader (openBundle, as install and the agent use it) and the operator's
// whole-bundle check (verifyBundle) with damaged tars: random bytes, byte edits of valid
// bundles, header fields rewritten with a fixed checksum (names, sizes, types, links, magic),
// and entry lists packed by tar-stream (stray, duplicated, reordered, missing entries, links,
// devices, pax records, no end marker). Each is accepted with every payload matching the
// signed manifest, or refused with a bundle code; both readers agree on which.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { verifyBundle } from '../../src/bundle/check.js';
import type { OpenOptions } from '../../src/bundle/open.js';
import { fuzzAsync, outcomeAsync } from './support.js';
import { applyEdits, byteEdit } from './mutate.js';
import { applyHeaderEdits, headerEdit, packTar, strayEntry, type PackEntry } from './tar.js';
import { buildBases, consume, newSigner, sha256, streamOf, type BaseBundle, type ConsumeMode } from './bundles.js';

export const BUNDLE_CODES = [
  'SF_ERR_BUNDLE_FORMAT',
  'SF_ERR_UNSAFE_PATH',
  'SF_ERR_LINK',
  'SF_ERR_DIGEST',
  'SF_ERR_OVERSIZE',
  'SF_ERR_MANIFEST',
  'SF_ERR_SIGNATURE',
  'SF_ERR_UNTRUSTED_KEY',
  'SF_ERR_KEY_REVOKED',
  'SF_ERR_EXPIRED',
];

const signer = newSigner();
const outsider = newSigner();
const OPTS: OpenOptions = { trustedKeys: [signer.trusted], now: new Date('2026-06-01T00:00:00Z') };
const bases: BaseBundle[] = await buildBases([
  { label: 'rootfs+app', payloads: [['rootfs', 20_000], ['app', 3_000]], signer },
  { label: 'app+rootfs+empty', payloads: [['app', 700], ['rootfs', 9_000], ['empty', 0]], signer },
  { label: 'untrusted', payloads: [['rootfs', 5_000]], signer: outsider },
  { label: 'expired', payloads: [['rootfs', 4_096]], signer, expires: new Date('2026-03-01T00:00:00Z') },
]);

/** How a case's bundle bytes are made; built inside the property (packing is asynchronous). */
type Recipe =
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

const baseIndex = fc.nat({ max: bases.length - 1 });
const recipeArb: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ minLength: 1024, maxLength: 1024 }).map((b) => b.fill(0))) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('bytes' as const), base: baseIndex, edits: fc.array(byteEdit, { minLength: 1, maxLength: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('headers' as const), base: baseIndex, edits: fc.array(headerEdit, { minLength: 1, maxLength: 3 }), after: fc.array(byteEdit, { maxLength: 1 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('entries' as const), base: baseIndex, ops: fc.array(entryOp, { minLength: 0, maxLength: 3 }), finalize: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), after: fc.array(byteEdit, { maxLength: 1 }) }),
  },
);

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

export async function buildRecipe(r: Recipe, from: readonly BaseBundle[] = bases): Promise<Buffer> {
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

const caseArb = fc.record({
  recipe: recipeArb,
  piece: fc.constantFrom(97, 511, 512, 4096, 65536),
  mode: fc.constantFrom<ConsumeMode>('read', 'read', 'skip', 'abandon'),
});

test('openBundle and verifyBundle: damaged bundles are accepted intact or refused with a bundle code, and both agree', async (t) => {
  let accepted = 0;
  await fuzzAsync(t, 1200, caseArb, async ({ recipe, piece, mode }) => {
    const bytes = await buildRecipe(recipe);
    const opened = await outcomeAsync(() => consume(streamOf(bytes, piece), OPTS, mode), BUNDLE_CODES);
    const verified = await outcomeAsync(() => verifyBundle(streamOf(bytes, piece), OPTS), BUNDLE_CODES);
    if (opened.ok) {
      accepted++;
      // Only what the trusted key signed can be accepted, and every payload read matches it.
      const base = bases.find((b) => b.manifestBytes.equals(opened.value.manifestBytes));
      assert.ok(base, 'accepted a manifest the trusted key never signed');
      for (const p of opened.value.read) {
        assert.equal(p.data.length, p.size);
        assert.equal(sha256(p.data), p.sha256);
        assert.ok(p.data.equals(base.payloads.get(p.name)!));
      }
      assert.equal(opened.value.yielded, base.manifest.payloads.length);
    }
    if (verified.ok) assert.deepEqual(verified.value.payloads.map((p) => p.name), verified.value.manifest.payloads.map((p) => p.name));
    if (mode === 'read') assert.equal(opened.ok, verified.ok, `install reader ${opened.ok ? 'accepted' : `refused (${!opened.ok && opened.error.code})`} what verify ${verified.ok ? 'accepted' : `refused (${!verified.ok && verified.error.code})`}`);
  });
  t.diagnostic(`${accepted} cases accepted (intact payloads)`);
});

test('openBundle: the unmodified bases are accepted or refused for trust alone', async () => {
  for (const b of bases) {
    const r = await outcomeAsync(() => consume(streamOf(b.bytes, 4096), OPTS, 'read'), BUNDLE_CODES);
    const want = b.label === 'untrusted' ? 'SF_ERR_UNTRUSTED_KEY' : b.label === 'expired' ? 'SF_ERR_EXPIRED' : undefined;
    assert.equal(r.ok ? undefined : r.error.code, want, b.label);
  }
});
