// Fuzzing the manifest parser and its chunk table: arbitrary bytes, arbitrary JSON and valid
// manifests with fields replaced, removed or added. A manifest is accepted or refused with
// SF_ERR_MANIFEST; an accepted one re-serialises to the same document and its chunk table
// answers for every chunk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkTable, ChunkTableBuilder, MANIFEST_FORMAT, parseManifest, serializeManifest, type Manifest, type PayloadEntry } from '../../src/bundle/manifest.js';
import { parseSignatureFile } from '../../src/bundle/signature.js';
import { fuzzSync, outcome } from './support.js';
import { mutatedBytes, mutatedJson } from './mutate.js';

const MANIFEST = ['SF_ERR_MANIFEST'];

/** A payload entry whose chunk table fits its size (CRC values are arbitrary). */
const payloadArb = (name: fc.Arbitrary<string>): fc.Arbitrary<PayloadEntry> =>
  fc
    .record({
      name,
      chunkSize: fc.constantFrom(4096, 8192, 65536, 256 * 1024, 8 * 1024 * 1024),
      chunks: fc.nat({ max: 40 }),
      tail: fc.nat({ max: 4095 }),
      crcs: fc.array(fc.nat({ max: 0xffffffff }), { minLength: 40, maxLength: 40 }),
      zero: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
    })
    .map((p) => {
      const size = p.chunks === 0 ? 0 : (p.chunks - 1) * p.chunkSize + 1 + (p.tail % p.chunkSize);
      const count = Math.ceil(size / p.chunkSize);
      const b = new ChunkTableBuilder(p.chunkSize);
      for (let i = 0; i < count; i++) b.add(p.crcs[i]!, p.zero[i]!);
      return { name: p.name, size, sha256: p.sha256, ...b.finish() };
    });

const manifestArb: fc.Arbitrary<Manifest> = fc
  .record({
    compatible: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
    version: fc.tuple(fc.nat(99), fc.nat(99), fc.nat(999), fc.option(fc.stringMatching(/^[0-9A-Za-z.-]{1,8}$/))).map(([a, b, c, pre]) => `${a}.${b}.${c}${pre ? `-${pre}` : ''}`),
    securityVersion: fc.nat(),
    created: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    expires: fc.option(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()), { nil: undefined }),
    keyId: fc.stringMatching(/^[0-9a-f]{16}$/),
    payloads: fc.uniqueArray(payloadArb(fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/)), { minLength: 1, maxLength: 3, selector: (p) => p.name }),
    preInstall: fc.option(fc.array(fc.string(), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  })
  .map((r) => {
    // Keys in schema order, as bundle create writes them (the signed bytes are canonical).
    const m: Manifest = {
      format: MANIFEST_FORMAT,
      compatible: r.compatible,
      version: r.version,
      securityVersion: r.securityVersion,
      created: r.created,
      ...(r.expires ? { expires: r.expires } : {}),
      keyId: r.keyId,
      payloads: r.payloads,
      ...(r.preInstall ? { preInstall: r.preInstall } : {}),
    };
    return m;
  });

/** What every accepted manifest must satisfy, beyond "parseManifest returned". */
function checkAccepted(m: Manifest): void {
  for (const p of m.payloads) {
    const table = new ChunkTable(p);
    assert.equal(table.count, Math.ceil(p.size / p.chunkSize));
    let total = 0;
    for (let i = 0; i < table.count; i++) {
      assert.ok(table.length(i) > 0 && table.length(i) <= p.chunkSize);
      assert.equal(table.offset(i), total);
      total += table.length(i);
      assert.ok(table.crc(i) >= 0 && table.crc(i) <= 0xffffffff);
    }
    assert.equal(total, p.size);
    assert.ok(table.dataChunks <= table.count);
  }
}

const SAMPLES = fc.sample(manifestArb, { numRuns: 12, seed: 42 });

test('serializeManifest → parseManifest is the identity for valid manifests', (t) => {
  fuzzSync(t, 1000, manifestArb, (m) => {
    const back = parseManifest(serializeManifest(m));
    assert.deepEqual(back, JSON.parse(JSON.stringify(m)));
    assert.deepEqual(serializeManifest(back), serializeManifest(m));
    checkAccepted(back);
  });
});

test('parseManifest: arbitrary bytes and JSON are a manifest or SF_ERR_MANIFEST', (t) => {
  const input = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s)));
  fuzzSync(t, 2000, input, (bytes) => {
    const r = outcome(() => parseManifest(bytes), MANIFEST);
    if (r.ok) checkAccepted(r.value);
  });
});

test('parseManifest: valid manifests with fields replaced, removed or added are accepted whole or refused', (t) => {
  fuzzSync(t, 3000, mutatedJson(SAMPLES, 3), (doc) => {
    const r = outcome(() => parseManifest(Buffer.from(JSON.stringify(doc) ?? 'undefined')), MANIFEST);
    if (r.ok) checkAccepted(r.value);
  });
});

test('parseManifest: byte-mutated manifests are accepted whole or refused', (t) => {
  fuzzSync(t, 1500, mutatedBytes(SAMPLES.map(serializeManifest), 3), (bytes) => {
    const r = outcome(() => parseManifest(bytes), MANIFEST);
    if (r.ok) checkAccepted(r.value);
  });
});

test('ChunkTable: arbitrary chunk tables and zero runs build a consistent table or SF_ERR_MANIFEST', (t) => {
  const entry = fc.record({
    name: fc.constant('rootfs'),
    size: fc.oneof(fc.nat({ max: 200_000 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 40, 2 ** 32)),
    sha256: fc.constant('0'.repeat(64)),
    chunkSize: fc.constantFrom(4096, 5000, 65536),
    crc32: fc.oneof(fc.base64String({ maxLength: 300 }), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')), fc.string({ maxLength: 20 })),
    fits: fc.boolean(),
    zero: fc.array(fc.tuple(fc.nat({ max: 60 }), fc.nat({ max: 60 })), { maxLength: 6 }),
  });
  // Half the tables get a CRC list of the right length, so the zero-run checks are reached.
  const fitted = entry.map(({ fits, ...p }) => (fits && p.size <= 200_000 ? { ...p, crc32: Buffer.alloc(Math.ceil(p.size / p.chunkSize) * 4, 0xa5).toString('base64') } : p));
  fuzzSync(t, 2000, fitted, (p) => {
    const r = outcome(() => new ChunkTable(p), MANIFEST);
    if (!r.ok) return;
    const table = r.value;
    let zeros = 0;
    for (const [from, to] of p.zero) zeros += to - from;
    assert.equal(table.count - table.dataChunks, zeros);
  });
});

test('parseSignatureFile: arbitrary and mutated manifest.sig documents parse or are SF_ERR_SIGNATURE', (t) => {
  const sample = { format: 'slotflip-sig/1', keyId: '0123456789abcdef', signature: Buffer.alloc(64, 7).toString('base64'), endorsement: { keyId: 'fedcba9876543210', publicKey: 'AAAA', signature: 'BBBB' } };
  const input = fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)), mutatedJson([sample], 3).map((j) => Buffer.from(JSON.stringify(j) ?? '')));
  fuzzSync(t, 1500, input, (bytes) => {
    outcome(() => parseSignatureFile(bytes), ['SF_ERR_SIGNATURE']);
  });
});
