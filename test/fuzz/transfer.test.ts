// Fuzzing what the MQTT transfer parses off the network: chunk frames, device messages (join,
// request, ack, done), retained announcements and manifest envelopes. Refusals must be
// SF_ERR_FRAME and nothing else; encode → decode must be the identity.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FLAG_REPAIR, FLAG_SYNC, FRAME_HEADER_BYTES } from '../../src/transfer/frame.js';
import { decodeRows, encodeRows, MAX_ROWS } from '../../src/transfer/repair.js';
import { crc32 } from '../../src/transfer/crc.js';
import { decodeAnnouncement, decodeDeviceMessage, encodeAnnouncement, encodeDeviceMessage, MAX_REQUEST_BYTES, type Announcement, type DeviceMessage } from '../../src/transfer/messages.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/transfer/envelope.js';
import { Bitmap } from '../../src/transfer/bitmap.js';
import { fuzzAsync, fuzzSync, outcome } from './support.js';
import { mutatedBytes, mutatedJson } from './mutate.js';

const FRAME = ['SF_ERR_FRAME'];

const frameArb = fc.record({
  releaseId: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)),
  epoch: fc.nat({ max: 0xffffffff }),
  seq: fc.nat({ max: 0xffffffff }),
  payload: fc.nat({ max: 0xffff }),
  chunk: fc.nat({ max: 0xffffffff }),
  kind: fc.constantFrom('data' as const, 'sync' as const, 'repair' as const),
  repair: fc.record({ size: fc.integer({ min: 1, max: 128 }), row: fc.nat({ max: 127 }) }),
  data: fc.uint8Array({ maxLength: 300 }),
});

const SAMPLE_FRAMES = [
  encodeFrame({ releaseId: Buffer.from('0123456789abcdef', 'hex'), epoch: 7, seq: 1, payload: 0, chunk: 3, data: Buffer.from('hello chunk') }),
  encodeFrame({ releaseId: Buffer.from('fedcba9876543210', 'hex'), epoch: 1, seq: 9, payload: 1, chunk: 0, flags: FLAG_SYNC, data: Buffer.alloc(0) }),
  encodeFrame({ releaseId: Buffer.from('fedcba9876543210', 'hex'), epoch: 1, seq: 10, payload: 0, chunk: 64, repair: { size: 64, row: 3 }, data: Buffer.from('a repair row') }),
];

test('decodeFrame: arbitrary bytes are a frame or SF_ERR_FRAME', (t) => {
  fuzzSync(t, 2000, fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 120 }), mutatedBytes(SAMPLE_FRAMES, 3)), fc.nat({ max: 1 << 20 })), ([bytes, maxData]) => {
    const r = outcome(() => decodeFrame(bytes, maxData), FRAME);
    if (r.ok) {
      assert.equal(r.value.data.length, bytes.length - FRAME_HEADER_BYTES);
      assert.ok(r.value.data.length <= maxData);
    }
  });
});

test('encodeFrame → decodeFrame is the identity', (t) => {
  fuzzSync(t, 1500, frameArb, (f) => {
    const data = f.kind === 'sync' ? new Uint8Array(0) : f.data;
    const repair = f.kind === 'repair' ? { size: f.repair.size, row: f.repair.row } : undefined;
    const flags = f.kind === 'sync' ? FLAG_SYNC : f.kind === 'repair' ? FLAG_REPAIR : 0;
    const bytes = encodeFrame({ releaseId: f.releaseId, epoch: f.epoch, seq: f.seq, payload: f.payload, chunk: f.chunk, data, flags: f.kind === 'sync' ? FLAG_SYNC : 0, ...(repair ? { repair } : {}) });
    const back = decodeFrame(bytes, data.length);
    assert.deepEqual(
      { ...back, data: Buffer.from(back.data) },
      { releaseId: f.releaseId.toString('hex'), flags, epoch: f.epoch, seq: f.seq, payload: f.payload, chunk: f.chunk, crc: crc32(data), ...(repair ? { repair } : {}), data: Buffer.from(data) },
    );
    // One byte over the release's largest chunk is refused.
    if (data.length > 0) assert.equal(outcome(() => decodeFrame(bytes, data.length - 1), FRAME).ok, false);
  });
});

const bitmapArb = (count: number): fc.Arbitrary<Bitmap> =>
  fc.array(fc.nat({ max: Math.max(0, count - 1) }), { maxLength: count ? 300 : 0 }).map((bits) => {
    const b = new Bitmap(count);
    for (const i of bits) b.add(i);
    return b;
  });

/** Held rows entries that fit the release (none when every payload is empty). */
function heldArb(counts: number[]): fc.Arbitrary<{ payload: number; start: number; size: number; count: number }[]> {
  const nonEmpty = counts.flatMap((n, p) => (n > 0 ? [p] : []));
  if (nonEmpty.length === 0) return fc.constant([]);
  const entry = fc.constantFrom(...nonEmpty).chain((payload) =>
    fc.nat({ max: counts[payload]! - 1 }).chain((start) =>
      fc.record({ payload: fc.constant(payload), start: fc.constant(start), size: fc.integer({ min: 1, max: counts[payload]! - start }), count: fc.nat({ max: 128 }) }).map((h) => ({ ...h })),
    ),
  );
  return fc.array(entry, { maxLength: 5 });
}

const messageArb: fc.Arbitrary<{ m: DeviceMessage; counts: number[] }> = fc
  .array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 4 })
  .chain((counts) =>
    fc.record({
      counts: fc.constant(counts),
      m: fc.record(
        {
          kind: fc.constantFrom('join' as const, 'request' as const, 'ack' as const, 'done' as const),
          device: fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/),
          epoch: fc.nat(),
          seq: fc.nat(),
          have: fc.nat(),
          total: fc.nat(),
          bytes: fc.maxSafeNat(),
          totalBytes: fc.maxSafeNat(),
          missing: fc.uniqueArray(fc.nat({ max: counts.length - 1 }), { maxLength: counts.length }).chain((ps) => fc.tuple(...ps.map((p) => bitmapArb(counts[p]!).map((b) => [p, b] as const)))).map((pairs) => new Map(pairs)),
          held: heldArb(counts),
        },
        { requiredKeys: ['kind', 'device', 'epoch', 'seq', 'have', 'total', 'bytes', 'totalBytes'] },
      ),
    }),
  );

function plain(m: DeviceMessage): unknown {
  return { ...m, missing: m.missing && [...m.missing].map(([p, b]) => [p, b.size, b.ranges(true)]) };
}

test('encodeDeviceMessage → decodeDeviceMessage is the identity (ranges and bitmap forms)', (t) => {
  fuzzSync(t, 800, messageArb, ({ m, counts }) => {
    assert.deepEqual(plain(decodeDeviceMessage(encodeDeviceMessage(m), counts)), plain(m));
  });
});

const SAMPLE_MESSAGES = [
  JSON.parse(encodeDeviceMessage({ kind: 'join', device: 'dev-1', epoch: 3, seq: 9, have: 1, total: 10, bytes: 4096, totalBytes: 40960, missing: new Map([[0, bitmapFrom(10, [1, 2, 3, 7])]]) }).toString()),
  JSON.parse(encodeDeviceMessage({ kind: 'request', device: 'd', epoch: 1, seq: 2, have: 0, total: 100, bytes: 0, totalBytes: 1, missing: new Map([[1, bitmapFrom(100, Array.from({ length: 50 }, (_, i) => i * 2))]]) }).toString()),
  JSON.parse(encodeDeviceMessage({ kind: 'ack', device: 'x', epoch: 0, seq: 0, have: 0, total: 0, bytes: 0, totalBytes: 0 }).toString()),
  JSON.parse(encodeDeviceMessage({ kind: 'request', device: 'r', epoch: 4, seq: 70, have: 60, total: 100, bytes: 0, totalBytes: 1, missing: new Map([[0, bitmapFrom(100, [3, 70])]]), held: [{ payload: 0, start: 64, size: 36, count: 1 }] }).toString()),
];

function bitmapFrom(size: number, bits: number[]): Bitmap {
  const b = new Bitmap(size);
  for (const i of bits) b.add(i);
  return b;
}

test('decodeDeviceMessage: arbitrary and mutated messages are a message or SF_ERR_FRAME', (t) => {
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)),
    mutatedJson(SAMPLE_MESSAGES, 3).map((j) => Buffer.from(JSON.stringify(j) ?? '')),
    mutatedBytes(SAMPLE_MESSAGES.map((m) => Buffer.from(JSON.stringify(m))), 3),
  );
  fuzzSync(t, 3000, fc.tuple(input, fc.array(fc.nat({ max: 200 }), { maxLength: 3 })), ([bytes, counts]) => {
    const r = outcome(() => decodeDeviceMessage(bytes, counts), FRAME);
    if (r.ok && r.value.missing) for (const [p, b] of r.value.missing) assert.equal(b.size, counts[p]);
  });
});

// A request's cost should follow its size: overlapping ranges over a large payload must not
// make one 2 MiB message cost minutes of publisher CPU (a fuzzer finding, now fixed).
test('decodeDeviceMessage: a maximal request of overlapping ranges is refused or decoded in bounded time', () => {
  const head = '{"v":1,"kind":"request","device":"d","epoch":0,"seq":0,"have":0,"total":0,"bytes":0,"totalBytes":0,"missing":[{"p":0,"ranges":[';
  for (const n of [64, Math.floor((MAX_REQUEST_BYTES - head.length - 10) / 11)]) {
    const msg = Buffer.from(head + Array(n).fill('[0,262144]').join(',') + ']}]}');
    assert.ok(msg.length < MAX_REQUEST_BYTES);
    const started = performance.now();
    try {
      decodeDeviceMessage(msg, [262144]);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'SF_ERR_FRAME');
    }
    const ms = performance.now() - started;
    assert.ok(ms < 200, `${n} ranges took ${ms.toFixed(0)} ms`);
  }
});

const announcementArb: fc.Arbitrary<Announcement> = fc.record(
  {
    releaseId: fc.stringMatching(/^[0-9a-f]{16}$/),
    board: fc.string(),
    topic: fc.string(),
    version: fc.string(),
    devices: fc.array(fc.string(), { maxLength: 5 }),
    published: fc.string(),
  },
  { requiredKeys: ['releaseId', 'board', 'topic', 'published'] },
);

test('encodeAnnouncement → decodeAnnouncement is the identity', (t) => {
  fuzzSync(t, 1000, announcementArb, (a) => {
    assert.deepEqual(decodeAnnouncement(encodeAnnouncement(a)), { ...a });
  });
});

test('decodeAnnouncement: arbitrary and mutated messages are an announcement, nothing, or SF_ERR_FRAME', (t) => {
  const sample = { v: 1, releaseId: '0123456789abcdef', board: 'qemu-arm64', topic: 'slotflip/releases/qemu-arm64/0123456789abcdef', version: '1.2.3', devices: ['a', 'b'], published: '2026-01-01T00:00:00Z' };
  const input = fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)), mutatedJson([sample], 3).map((j) => Buffer.from(JSON.stringify(j) ?? '')));
  fuzzSync(t, 2000, input, (bytes) => {
    const r = outcome(() => decodeAnnouncement(bytes), FRAME);
    if (r.ok && r.value) assert.match(r.value.releaseId, /^[0-9a-f]{16}$/);
  });
});

test('encodeEnvelope → decodeEnvelope is the identity', (t) => {
  fuzzSync(t, 800, fc.tuple(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 200 })), ([m, s]) => {
    const back = decodeEnvelope(encodeEnvelope(m, s));
    assert.deepEqual([back.manifestBytes, back.sigBytes], [Buffer.from(m), Buffer.from(s)]);
  });
});

test('decodeEnvelope: arbitrary and mutated envelopes are one or SF_ERR_FRAME', (t) => {
  const samples = [encodeEnvelope(Buffer.from('{"format":"slotflip-manifest/1"}'), Buffer.from('{"sig":1}')), encodeEnvelope(Buffer.alloc(0), Buffer.alloc(0))];
  fuzzSync(t, 1500, fc.oneof(fc.uint8Array({ maxLength: 64 }), mutatedBytes(samples, 3)), (bytes) => {
    const r = outcome(() => decodeEnvelope(bytes), FRAME);
    if (r.ok) assert.equal(16 + r.value.manifestBytes.length + r.value.sigBytes.length, bytes.length);
  });
});

test('repair code: any m distinct rows rebuild any m lost chunks of a generation', async (t) => {
  const arb = fc
    .record({ size: fc.integer({ min: 1, max: 128 }), chunk: fc.integer({ min: 1, max: 48 }), seed: fc.nat() })
    .chain((g) =>
      fc.record({
        g: fc.constant(g),
        lost: fc.uniqueArray(fc.nat({ max: g.size - 1 }), { minLength: 1, maxLength: Math.min(g.size, 12) }),
        rows: fc.uniqueArray(fc.nat({ max: MAX_ROWS - 1 }), { minLength: 12, maxLength: 12 }),
        zero: fc.uniqueArray(fc.nat({ max: g.size - 1 }), { maxLength: 4 }),
      }),
    );
  await fuzzAsync(t, 300, arb, async ({ g, lost, rows, zero }) => {
    const chunks = Array.from({ length: g.size }, (_, i) => (zero.includes(i) && !lost.includes(i) ? undefined : Buffer.from(Array.from({ length: g.chunk }, (_, k) => (g.seed + i * 31 + k * 7) & 255))));
    const use = rows.slice(0, lost.length);
    const gen = { start: 1000, size: g.size };
    const read = async (i: number) => chunks[i - 1000];
    const encoded = await encodeRows(gen, use, g.chunk, read);
    const rebuilt = await decodeRows(gen, lost.map((c) => 1000 + c), use.map((row, k) => ({ row, data: encoded[k]! })), g.chunk, read);
    lost.forEach((c, b) => assert.deepEqual(rebuilt[b], chunks[c] ?? Buffer.alloc(g.chunk)));
  });
});
