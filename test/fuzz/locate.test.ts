// Fuzzing the bundle locator (bundle/locate.ts) and the publisher's use of it
// (readBundleForServing), which walk tar headers by hand to serve chunks from file offsets.
// Damaged bundles must be located or refused typed, in bounded reads (a walk that revisits
// a header never ends); and where the install reader accepts a bundle, the locator must find
// the same manifest, signature and payload bytes. The install's direct walk (bundle/direct.ts)
// must never take a bundle the stream reader refuses, except for payload bytes that differ
// from the manifest's digest, which the install's read-back refuses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { locateBundle, locateEntries } from '../../src/bundle/locate.js';
import { directPayloads } from '../../src/bundle/direct.js';
import { openBundle } from '../../src/bundle/open.js';
import { readBundleForServing } from '../../src/operator/publish.js';
import { parseSignatureFile } from '../../src/bundle/signature.js';
import type { FileHandle, FileStat, FileSystem } from '../../src/platform/fs.js';
import { fuzzAsync, outcomeAsync, assertTyped } from './support.js';
import { BUNDLE_CODES, buildBases, consume, newSigner, sha256, streamOf, type BaseBundle } from './bundles.js';
import { buildRecipe, recipeArb } from './recipes.js';
import { packTar } from './tar.js';

const signer = newSigner();
const OPTS = { trustedKeys: [signer.trusted], now: new Date('2026-06-01T00:00:00Z') };
const bases: BaseBundle[] = await buildBases([
  { label: 'rootfs+app', payloads: [['rootfs', 20_000], ['app', 3_000]], signer },
  { label: 'long names', payloads: [['rootfs', 6_000], ['a'.repeat(32), 100]], signer },
]);

/** A walk that reads more than this many times per 512-byte block of the file is looping. */
class ReadBudgetError extends Error {}
/** A read before the start of the file (realFs would read at the current file position instead). */
class NegativeReadError extends Error {}

/** The bundle as a read-only in-memory file; reads beyond a budget fail instead of looping forever. */
function memoryFile(bytes: Buffer): FileSystem {
  let reads = 0;
  const budget = 4 * Math.ceil(bytes.length / 512) + 16;
  const handle: FileHandle = {
    async read(into, offset, length, position) {
      if (++reads > budget) throw new ReadBudgetError(`more than ${budget} reads of a ${bytes.length}-byte file: the walk does not end`);
      if (!Number.isSafeInteger(position) || position < 0) throw new NegativeReadError(`read at position ${position}`);
      const n = Math.max(0, Math.min(length, bytes.length - position));
      if (n > 0) into.set(bytes.subarray(position, position + n), offset);
      return n;
    },
    write: () => Promise.reject(new Error('read-only')),
    datasync: () => Promise.resolve(),
    sync: () => Promise.resolve(),
    truncate: () => Promise.reject(new Error('read-only')),
    stat: async () => ({ size: bytes.length, isFile: true }) as FileStat,
    close: () => Promise.resolve(),
  };
  return { open: async () => handle } as unknown as FileSystem;
}

test('locateEntries and readBundleForServing: damaged bundles are located or refused typed, in bounded reads', async (t) => {
  await fuzzAsync(t, 1000, recipeArb(bases), async (recipe) => {
    const bytes = await buildRecipe(recipe, bases);
    for (const run of [() => locateEntries(memoryFile(bytes), 'bundle.sfb'), () => readBundleForServing(memoryFile(bytes), 'bundle.sfb')]) {
      try {
        await run();
      } catch (err) {
        assertTyped(err, [...BUNDLE_CODES]);
      }
    }
  });
});

test('where the install reader accepts a bundle, the locator serves the same manifest, signature and payloads', async (t) => {
  let agreed = 0;
  await fuzzAsync(t, 400, recipeArb(bases), async (recipe) => {
    const bytes = await buildRecipe(recipe, bases);
    const opened = await outcomeAsync(() => consume(streamOf(bytes, 4096), OPTS, 'read'), BUNDLE_CODES);
    if (!opened.ok) return;
    const base = bases.find((b) => b.manifestBytes.equals(opened.value.manifestBytes))!;
    const served = await readBundleForServing(memoryFile(bytes), 'bundle.sfb');
    assert.ok(served.manifestBytes.equals(base.manifestBytes), 'locator found other manifest bytes');
    // The signature entry may be edited and still hold the same signature (a trailing newline cut off).
    assert.deepEqual(parseSignatureFile(served.sigBytes), parseSignatureFile(base.sigBytes), 'locator found another signature');
    for (const p of base.manifest.payloads) assert.ok((await served.read(p.name, 0, p.size)).equals(base.payloads.get(p.name)!), `payload ${p.name} served from the wrong place`);
    agreed++;
  });
  t.diagnostic(`${agreed} accepted bundles located identically`);
});

test('directPayloads takes only what the stream reader takes, and finds the same payload bytes', async (t) => {
  let direct = 0;
  let digestOnly = 0;
  await fuzzAsync(t, 600, recipeArb(bases), async (recipe) => {
    const bytes = await buildRecipe(recipe, bases);
    // The install walks the file only after the stream reader has verified the manifest.
    const head = await outcomeAsync(async () => {
      const b = await openBundle(streamOf(bytes, 4096), OPTS);
      await b.close();
      return b;
    }, BUNDLE_CODES);
    if (!head.ok) return;
    const ranges = await directPayloads(memoryFile(bytes), 'bundle.sfb', head.value.manifest, head.value.manifestBytes);
    if (!ranges) return;
    direct++;
    const whole = await outcomeAsync(() => consume(streamOf(bytes, 4096), OPTS, 'read'), BUNDLE_CODES);
    const at = (name: string): Buffer => {
      const r = ranges.get(name)!;
      return bytes.subarray(r.offset, r.offset + r.size);
    };
    if (whole.ok) {
      assert.deepEqual([...ranges.keys()], head.value.manifest.payloads.map((p) => p.name));
      for (const p of whole.value.read) assert.ok(at(p.name).equals(p.data), `payload ${p.name}: the walk found other bytes than the stream`);
    } else {
      // Only a payload whose bytes do not hash to the manifest's digest: the read-back's to refuse.
      assert.equal(whole.error.code, 'SF_ERR_DIGEST', `the walk took a bundle the stream refuses with ${whole.error.code}: ${whole.error.message}`);
      assert.ok(head.value.manifest.payloads.some((p) => sha256(at(p.name)) !== p.sha256), 'the stream refused a payload whose bytes match the digest');
      digestOnly++;
    }
  });
  t.diagnostic(`${direct} bundles walked directly, ${digestOnly} of them with a payload the read-back refuses`);
});

/** A tar of manifest.json and manifest.sig with header `which` edited (checksum left stale: locate ignores it). */
async function tarWithHeader(edit: (h: Buffer) => void, which: 0 | 1 = 0): Promise<Buffer> {
  const b = await packTar([{ name: 'manifest.json', body: Buffer.from('{}') }, { name: 'manifest.sig', body: Buffer.from('{}') }]);
  edit(b.subarray(which * 1024, which * 1024 + 512));
  return b;
}

test('locateEntries refuses a header whose size is negative', async () => {
  for (const size of ['-1000', '-7777']) {
    const bytes = await tarWithHeader((h) => {
      h.fill(0, 124, 136);
      h.write(size, 124, 'latin1');
    });
    await assert.rejects(locateEntries(memoryFile(bytes), 'bundle.sfb'), (err) => (assertTyped(err, ['SF_ERR_BUNDLE_FORMAT']), true));
  }
});

test('locateEntries refuses a pax header larger than the file, typed and without allocating it', async () => {
  for (const size of ['-1000', '77777777777']) {
    const bytes = await tarWithHeader((h) => {
      h.fill(0, 124, 136);
      h.write(size, 124, 'latin1');
      h[156] = 'x'.charCodeAt(0);
    });
    await assert.rejects(locateEntries(memoryFile(bytes), 'bundle.sfb'), (err) => (assertTyped(err, ['SF_ERR_BUNDLE_FORMAT']), true));
  }
});

test('readBundleForServing refuses a signature entry larger than the file, typed', async () => {
  const bytes = await tarWithHeader((h) => {
    h.fill(0, 124, 136);
    h.write('77777777777', 124, 'latin1');
  }, 1);
  await assert.rejects(readBundleForServing(memoryFile(bytes), 'bundle.sfb'), (err) => (assertTyped(err, ['SF_ERR_BUNDLE_FORMAT']), true));
});

test('locateBundle: arbitrary bytes never loop', async (t) => {
  await fuzzAsync(t, 800, fc.uint8Array({ maxLength: 3000 }), async (raw) => {
    try {
      await locateBundle(memoryFile(Buffer.from(raw)), 'bundle.sfb');
    } catch (err) {
      assertTyped(err, ['SF_ERR_BUNDLE_FORMAT']);
    }
  });
});

test('locateEntries reads a checksum field as the install reader does: digits, then anything (found by the fuzzer)', async () => {
  // tar-stream's checksum field is six digits and a space; a stray byte after the digits is
  // ignored by tar-stream, so the locator must ignore it too.
  const bytes = await tarWithHeader((h) => {
    h[154] = '8'.charCodeAt(0);
  });
  const entries = await locateEntries(memoryFile(bytes), 'bundle.sfb');
  assert.deepEqual(entries.map((e) => e.name), ['manifest.json', 'manifest.sig']);
});
