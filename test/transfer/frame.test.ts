// The chunk frame codec: round trip, and refusal of anything malformed or oversize.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeFrame, frameIsFor, FRAME_HEADER_BYTES, FLAG_REPAIR, FLAG_SYNC, releaseIdBytes } from '../../src/transfer/frame.js';
import { crc32 } from '../../src/transfer/crc.js';

const rid = releaseIdBytes('0123456789abcdef');
const data = Buffer.from('hello chunk');

test('a frame round-trips every field and carries the CRC-32 of its data', () => {
  const buf = encodeFrame({ releaseId: rid, epoch: 7, seq: 99, payload: 2, chunk: 123456, data });
  assert.equal(buf.length, FRAME_HEADER_BYTES + data.length);
  assert.ok(frameIsFor(buf, rid));
  assert.ok(!frameIsFor(buf, releaseIdBytes('fedcba9876543210')));
  const f = decodeFrame(buf, 64);
  assert.deepEqual({ ...f, data: Buffer.from(f.data) }, { releaseId: '0123456789abcdef', flags: 0, epoch: 7, seq: 99, payload: 2, chunk: 123456, crc: crc32(data), data });
});

test('malformed frames are refused with SF_ERR_FRAME', () => {
  const good = encodeFrame({ releaseId: rid, epoch: 1, seq: 1, payload: 0, chunk: 0, data });
  const cases: [string, Buffer, number][] = [
    ['truncated header', good.subarray(0, 20), 64],
    ['truncated data', good.subarray(0, good.length - 1), 64],
    ['longer than chunk size + header', good, data.length - 1],
    ['bad magic', Buffer.concat([Buffer.from('XXXX'), good.subarray(4)]), 64],
  ];
  const badVersion = Buffer.from(good);
  badVersion[4] = 9;
  cases.push(['unknown version', badVersion, 64]);
  const badFlags = Buffer.from(good);
  badFlags[5] = 0x80;
  cases.push(['unknown flags', badFlags, 64]);
  const syncWithData = Buffer.from(good);
  syncWithData[5] = FLAG_SYNC;
  cases.push(['sync frame with data', syncWithData, 64]);
  const syncAndRepair = Buffer.from(good);
  syncAndRepair[5] = FLAG_SYNC | FLAG_REPAIR;
  cases.push(['sync and repair at once', syncAndRepair, 64]);
  for (const [what, buf, max] of cases) {
    assert.throws(() => decodeFrame(buf, max), (err: Error & { code?: string }) => err.code === 'SF_ERR_FRAME', what);
  }
});

test('a repair frame carries its generation (first chunk, size) and row', () => {
  const buf = encodeFrame({ releaseId: rid, epoch: 7, seq: 100, payload: 1, chunk: 128, repair: { size: 64, row: 127 }, data });
  const f = decodeFrame(buf, 64);
  assert.equal(f.flags, FLAG_REPAIR);
  assert.deepEqual(f.repair, { size: 64, row: 127 });
  assert.equal(f.chunk, 128);
  assert.equal(decodeFrame(encodeFrame({ releaseId: rid, epoch: 7, seq: 1, payload: 0, chunk: 0, data }), 64).repair, undefined);
});
