// A device rebuilding lost chunks from repair frames, frame by frame: a forged row (right frame
// CRC, wrong data) yields a chunk that fails the chunk table's CRC and is asked for again; a
// real row rebuilds it. A sync frame at the end of a pass reveals lost last frames at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { realFs } from '../../src/platform/fs.js';
import { ChunkLedger, type ChunkSink } from '../../src/transfer/ledger.js';
import { FrameIntake } from '../../src/transfer/intake.js';
import { encodeFrame, FLAG_SYNC, releaseIdBytes } from '../../src/transfer/frame.js';
import { decodeDeviceMessage, type DeviceMessage } from '../../src/transfer/messages.js';
import { releaseTopics } from '../../src/transfer/topics.js';
import { encodeRows } from '../../src/transfer/repair.js';
import { makeRelease, tempDir } from './support.js';

const CHUNK = 4096;
const rel = makeRelease(8 * CHUNK - 100, CHUNK, [5], 51); // chunk 5 all zeros, chunk 7 short
const rid = releaseIdBytes(rel.releaseId);
const EPOCH = 77;
const source = (i: number): Buffer => rel.payload.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, rel.payload.length));

class MemorySink implements ChunkSink {
  readonly bytes = Buffer.alloc(rel.table.size);
  async write(_p: string, i: number, data: Uint8Array): Promise<void> {
    this.bytes.set(data, i * CHUNK);
  }
  async writeZero(_p: string, i: number, n: number): Promise<void> {
    this.bytes.fill(0, i * CHUNK, i * CHUNK + n);
  }
  async sync(): Promise<void> {}
  async read(_p: string, i: number, n: number): Promise<Uint8Array> {
    return Buffer.from(this.bytes.subarray(i * CHUNK, i * CHUNK + n));
  }
}

async function rig(dir: string) {
  const sink = new MemorySink();
  const wanted = [{ index: 0, name: 'rootfs', table: rel.table }];
  const ledger = new ChunkLedger(realFs, dir, rel.releaseId, wanted, sink, { chunks: 64, bytes: 1e9, writesInFlight: 4 });
  await ledger.load(() => assert.fail('fresh ledger'));
  await ledger.writeZeros();
  const sent: DeviceMessage[] = [];
  const client = {
    publish(_topic: string, msg: Buffer, _opts: unknown, cb?: (err?: Error) => void) {
      sent.push(decodeDeviceMessage(msg, [rel.table.count]));
      cb?.();
    },
  } as unknown as MqttClient;
  const warnings: Error[] = [];
  let complete = false;
  const intake = new FrameIntake(client, {
    releaseId: rel.releaseId,
    deviceId: 'dev-r',
    topics: releaseTopics(undefined, 'test-board', rel.releaseId),
    ledger,
    maxChunk: CHUNK,
    ackEveryFrames: 1000,
    ackEveryBytes: 1e9,
    ackDelayMs: 3_600_000,
    idleMs: 3_600_000,
    repairMemory: 1024 * 1024,
    onWarning: (e) => warnings.push(e),
    onProgress: () => undefined,
    onChunk: () => undefined,
    onComplete: () => (complete = true),
    onError: (e) => assert.fail(String(e)),
  });
  return { sink, ledger, intake, sent, warnings, isComplete: () => complete };
}

const chunkFrame = (seq: number, i: number): Buffer => encodeFrame({ releaseId: rid, epoch: EPOCH, seq, payload: 0, chunk: i, data: source(i) });
const repairFrame = (seq: number, row: number, data: Uint8Array): Buffer =>
  encodeFrame({ releaseId: rid, epoch: EPOCH, seq, payload: 0, chunk: 0, repair: { size: 8, row }, data });

test('a forged repair row is caught by the chunk CRC; a real row rebuilds the lost chunk', async () => {
  const dir = await tempDir();
  const r = await rig(dir);
  try {
    let seq = 0;
    for (const i of [0, 1, 2, 3, 4, 6, 7]) {
      seq++;
      if (i !== 2) await r.intake.onFrame(chunkFrame(seq, i)); // chunk 2 (seq 3) is lost
    }
    assert.equal(r.intake.stats.framesLost, 1);
    await r.intake.onFrame(repairFrame(++seq, 0, randomBytes(CHUNK)));
    assert.equal(r.intake.stats.badCrc, 1, 'the rebuilt chunk fails the chunk table CRC');
    assert.ok(!r.ledger.has(0, 2));
    assert.match(r.warnings.at(-1)!.message, /rebuilt from repair frames failed its CRC-32/);
    const [row] = await encodeRows({ start: 0, size: 8 }, [1], CHUNK, async (i) => (rel.table.isZero(i) ? undefined : source(i)));
    await r.intake.onFrame(repairFrame(++seq, 1, row!));
    assert.equal(r.intake.stats.chunksRepaired, 1);
    assert.ok(r.isComplete());
    assert.deepEqual(r.sink.bytes.subarray(0, rel.payload.length), rel.payload);
    // A row for a generation the device already has is a duplicate, not a decode.
    await r.intake.onFrame(repairFrame(++seq, 2, row!));
    assert.equal(r.intake.stats.duplicates, 1);
  } finally {
    r.intake.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('held rows are reported; a sync frame at the end of a pass reveals lost last frames', async () => {
  const dir = await tempDir();
  const r = await rig(dir);
  try {
    // Chunks 1 and 2 lost (seq 2, 3); one row arrives (seq 8); the last frame (chunk 7, seq 7) is lost too.
    for (const [seq, i] of [[1, 0], [4, 3], [5, 4], [6, 6]] as const) await r.intake.onFrame(chunkFrame(seq, i));
    const [row] = await encodeRows({ start: 0, size: 8 }, [0], CHUNK, async (i) => (rel.table.isZero(i) ? undefined : source(i)));
    await r.intake.onFrame(repairFrame(8, 0, row!));
    assert.equal(r.sent.length, 0, 'nothing reported yet (acks are far apart here)');
    await r.intake.onFrame(encodeFrame({ releaseId: rid, flags: FLAG_SYNC, epoch: EPOCH, seq: 9, payload: 0, chunk: 0, data: Buffer.alloc(0), crc: 0 }));
    assert.equal(r.sent.length, 1);
    const m = r.sent[0]!;
    assert.equal(m.kind, 'request');
    assert.equal(m.seq, 9);
    assert.deepEqual(m.missing!.get(0)!.ranges(true), [[1, 3], [7, 8]]);
    assert.deepEqual(m.held, [{ payload: 0, start: 0, size: 8, count: 1 }]);
  } finally {
    r.intake.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
