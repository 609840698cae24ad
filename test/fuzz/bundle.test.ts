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
import { BUNDLE_CODES, buildBases, consume, newSigner, sha256, streamOf, type BaseBundle, type ConsumeMode } from './bundles.js';
import { buildRecipe, recipeArb } from './recipes.js';


const signer = newSigner();
const outsider = newSigner();
const OPTS: OpenOptions = { trustedKeys: [signer.trusted], now: new Date('2026-06-01T00:00:00Z') };
const bases: BaseBundle[] = await buildBases([
  { label: 'rootfs+app', payloads: [['rootfs', 20_000], ['app', 3_000]], signer },
  { label: 'app+rootfs+empty', payloads: [['app', 700], ['rootfs', 9_000], ['empty', 0]], signer },
  { label: 'untrusted', payloads: [['rootfs', 5_000]], signer: outsider },
  { label: 'expired', payloads: [['rootfs', 4_096]], signer, expires: new Date('2026-03-01T00:00:00Z') },
]);

const caseArb = fc.record({
  recipe: recipeArb(bases),
  piece: fc.constantFrom(97, 511, 512, 4096, 65536),
  mode: fc.constantFrom<ConsumeMode>('read', 'read', 'skip', 'abandon'),
});

test('openBundle and verifyBundle: damaged bundles are accepted intact or refused with a bundle code, and both agree', async (t) => {
  let accepted = 0;
  await fuzzAsync(t, 1000, caseArb, async ({ recipe, piece, mode }) => {
    const bytes = await buildRecipe(recipe, bases);
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
