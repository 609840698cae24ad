// Device messages and announcements: round trips (ranges and bitmap forms) and strict refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bitmap } from '../../src/transfer/bitmap.js';
import { announcementTargets, decodeAnnouncement, decodeDeviceMessage, encodeDeviceMessage } from '../../src/transfer/messages.js';
import { announcementMessages } from '../../src/transfer/announce.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/transfer/envelope.js';

const base = { device: 'dev-1', epoch: 5, seq: 10, have: 3, total: 100, bytes: 300, totalBytes: 10000 };

test('a request lists missing chunks as ranges when few, as a bitmap when fragmented', () => {
  const few = new Bitmap(100);
  few.addRange(10, 20);
  few.add(99);
  const many = new Bitmap(1000);
  for (let i = 0; i < 1000; i += 3) many.add(i);
  const wire = encodeDeviceMessage({ ...base, kind: 'request', missing: new Map([[0, few], [1, many]]) });
  assert.match(wire.toString(), /"ranges":\[\[10,20\],\[99,100\]\]/);
  assert.match(wire.toString(), /"bitmap":/);
  const back = decodeDeviceMessage(wire, [100, 1000]);
  assert.deepEqual(back.missing!.get(0)!.ranges(true), [[10, 20], [99, 100]]);
  assert.equal(back.missing!.get(1)!.count, many.count);
  assert.equal(back.missing!.get(1)!.has(999), true);
  assert.equal(back.missing!.get(1)!.has(998), false);
  assert.equal(back.kind, 'request');
  assert.equal(back.seq, 10);
});

test('device messages that do not fit the release are refused with SF_ERR_FRAME', () => {
  const bad = [
    'not json',
    JSON.stringify({ v: 2, ...base, kind: 'ack' }),
    JSON.stringify({ v: 1, ...base, kind: 'hack' }),
    JSON.stringify({ v: 1, ...base, device: 'a/b', kind: 'ack' }),
    JSON.stringify({ v: 1, ...base, seq: -1, kind: 'ack' }),
    JSON.stringify({ v: 1, ...base, kind: 'join', missing: [{ p: 3, ranges: [[0, 1]] }] }),
    JSON.stringify({ v: 1, ...base, kind: 'join', missing: [{ p: 0, ranges: [[5, 101]] }] }),
    JSON.stringify({ v: 1, ...base, kind: 'join', missing: [{ p: 0, bitmap: 'AAAA' }] }),
  ];
  for (const b of bad) assert.throws(() => decodeDeviceMessage(Buffer.from(b), [100]), (e: Error & { code?: string }) => e.code === 'SF_ERR_FRAME', b);
});

test('announcements target a board, a group or listed devices; empty means withdrawn', () => {
  const byDevice = announcementMessages({ board: 'b1', releaseId: '0123456789abcdef', devices: ['d1', 'd2'], version: '1.2.3' });
  assert.deepEqual([...byDevice.keys()], ['slotflip/announce/devices/d1', 'slotflip/announce/devices/d2']);
  const a = decodeAnnouncement(byDevice.get('slotflip/announce/devices/d1')!)!;
  assert.equal(a.topic, 'slotflip/releases/b1/0123456789abcdef');
  assert.ok(announcementTargets(a, { deviceId: 'd1', board: 'b1' }));
  assert.ok(!announcementTargets(a, { deviceId: 'd2', board: 'b1' }));
  const group = announcementMessages({ prefix: 'fleet', board: 'b1', releaseId: '0123456789abcdef', group: 'canary' });
  assert.deepEqual([...group.keys()], ['fleet/announce/groups/canary']);
  const board = decodeAnnouncement(announcementMessages({ board: 'b1', releaseId: '0123456789abcdef' }).get('slotflip/announce/boards/b1')!)!;
  assert.ok(announcementTargets(board, { deviceId: 'any', board: 'b1' }));
  assert.ok(!announcementTargets(board, { deviceId: 'any', board: 'b2' }));
  assert.equal(decodeAnnouncement(Buffer.alloc(0)), undefined);
});

test('the manifest envelope keeps manifest and signature bytes exactly', () => {
  const m = Buffer.from('{"a":1}\n');
  const s = Buffer.from([1, 2, 3, 0, 255]);
  const env = decodeEnvelope(encodeEnvelope(m, s));
  assert.deepEqual([env.manifestBytes, env.sigBytes], [m, s]);
  const broken = encodeEnvelope(m, s).subarray(0, 20);
  assert.throws(() => decodeEnvelope(broken), (e: Error & { code?: string }) => e.code === 'SF_ERR_FRAME');
});

test('held repair rows round-trip; entries outside the release are refused', () => {
  const missing = new Map([[0, new Bitmap(100)]]);
  const held = [{ payload: 0, start: 64, size: 36, count: 3 }];
  const m = decodeDeviceMessage(encodeDeviceMessage({ kind: 'request', ...base, missing, held }), [100]);
  assert.deepEqual(m.held, held);
  assert.deepEqual(decodeDeviceMessage(encodeDeviceMessage({ kind: 'join', ...base, missing, held: [] }), [100]).held, []);
  assert.equal(decodeDeviceMessage(encodeDeviceMessage({ kind: 'join', ...base, missing }), [100]).held, undefined);
  const wire = (h: unknown): Buffer => Buffer.from(JSON.stringify({ v: 1, kind: 'request', ...base, held: h }));
  for (const bad of [{}, [[0, 64, 37, 1]], [[1, 0, 1, 1]], [[0, 0, 0, 1]], [[0, 0, 1]], [[0, -1, 1, 1]], Array.from({ length: 4097 }, () => [0, 0, 1, 1])]) {
    assert.throws(() => decodeDeviceMessage(wire(bad), [100]), (err: Error & { code?: string }) => err.code === 'SF_ERR_FRAME', JSON.stringify(bad).slice(0, 40));
  }
});
