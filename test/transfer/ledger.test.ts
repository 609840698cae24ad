// The ledger's promise: the bitmap on disk lists only chunks whose writes finished before a
// sync of the sink, even with writes in flight and syncs running in the background.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ChunkTable } from '../../src/bundle/manifest.js';
import { realFs } from '../../src/platform/fs.js';
import { BitmapStore } from '../../src/transfer/bitmap-store.js';
import { ChunkLedger, type ChunkSink } from '../../src/transfer/ledger.js';
import { makeRelease, tempDir } from './support.js';

/** A sink whose writes finish in a scrambled order and which knows what each sync covered. */
class RecordingSink implements ChunkSink {
  done = new Set<number>();
  synced = new Set<number>();
  syncs = 0;
  private n = 0;
  constructor(private readonly failAt = -1) {}
  async write(_p: string, i: number): Promise<void> {
    const turns = (this.n++ * 7) % 5; // later writes may finish before earlier ones
    for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
    if (i === this.failAt) throw new Error('EIO');
    this.done.add(i);
  }
  async writeZero(p: string, i: number): Promise<void> {
    await this.write(p, i);
  }
  async sync(): Promise<void> {
    const covered = new Set(this.done);
    await new Promise((r) => setImmediate(r));
    this.syncs++;
    for (const i of covered) this.synced.add(i);
  }
}

test('the stored bitmap never lists a chunk no sync covered', async () => {
  const rel = makeRelease(200 * 4096, 4096, [5, 6, 7], 31);
  const dir = await tempDir();
  try {
    const wanted = [{ index: 0, name: 'rootfs', table: new ChunkTable(rel.manifest.payloads[0]!) }];
    const sink = new RecordingSink();
    const ledger = new ChunkLedger(realFs, dir, rel.releaseId, wanted, sink, { chunks: 8, bytes: 1e9, writesInFlight: 4 });
    await ledger.load(() => assert.fail('fresh'));
    const store = new BitmapStore(realFs, dir, { releaseId: rel.releaseId, payloads: [{ index: 0, count: 200, chunkSize: 4096 }] });
    const checks: Promise<void>[] = [];
    ledger.onDurable = () => {
      const snapshot = new Set(sink.synced);
      checks.push(
        store.load(() => assert.fail('intact')).then((maps) => {
          const b = maps.get(0)!;
          for (let i = b.nextSet(0); i !== -1; i = b.nextSet(i + 1)) assert.ok(snapshot.has(i), `chunk ${i} stored as durable before a sync covered it`);
          assert.ok(ledger.progress().have <= snapshot.size);
        }),
      );
    };
    assert.equal(await ledger.writeZeros(), 3);
    for (let i = 0; i < 200; i++) if (!rel.table.isZero(i)) await ledger.write(wanted[0]!, i, rel.payload.subarray(i * 4096, (i + 1) * 4096));
    assert.ok(ledger.complete);
    await ledger.flush();
    await Promise.all(checks);
    assert.ok(sink.syncs >= 200 / 8, `only ${sink.syncs} syncs`);
    assert.equal(ledger.progress().have, 200);
    assert.equal((await store.load(() => undefined)).get(0)!.count, 200);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('a failed sink write stops the ledger and is not recorded as durable', async () => {
  const rel = makeRelease(64 * 4096, 4096, [], 32);
  const dir = await tempDir();
  try {
    const wanted = [{ index: 0, name: 'rootfs', table: new ChunkTable(rel.manifest.payloads[0]!) }];
    const ledger = new ChunkLedger(realFs, dir, rel.releaseId, wanted, new RecordingSink(20), { chunks: 8, bytes: 1e9, writesInFlight: 4 });
    await ledger.load(() => undefined);
    const run = async (): Promise<void> => {
      for (let i = 0; i < 64; i++) await ledger.write(wanted[0]!, i, rel.payload.subarray(i * 4096, (i + 1) * 4096));
      await ledger.flush();
    };
    await assert.rejects(run(), /EIO/);
    const store = new BitmapStore(realFs, dir, { releaseId: rel.releaseId, payloads: [{ index: 0, count: 64, chunkSize: 4096 }] });
    const b = (await store.load(() => undefined)).get(0)!;
    assert.ok(!b.has(20));
    assert.ok(b.count < 24, `${b.count} chunks stored after a failure at chunk 20`);
    await assert.rejects(ledger.flush(), /EIO/);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('the durable prefix: bytes from the start with no chunk missing, only once synced, and after a reload', async () => {
  const rel = makeRelease(10 * 4096 - 50, 4096, [2], 33); // chunk 2 all zeros, chunk 9 short
  const dir = await tempDir();
  try {
    const wanted = [{ index: 0, name: 'rootfs', table: new ChunkTable(rel.manifest.payloads[0]!) }];
    const chunk = (i: number) => rel.payload.subarray(i * 4096, Math.min((i + 1) * 4096, rel.payload.length));
    const ledger = new ChunkLedger(realFs, dir, rel.releaseId, wanted, new RecordingSink(), { chunks: 1000, bytes: 1e9, writesInFlight: 4 });
    await ledger.load(() => assert.fail('fresh'));
    assert.equal(ledger.durablePrefix(wanted[0]!), 0);
    await ledger.writeZeros();
    for (const i of [0, 1, 3, 5]) await ledger.write(wanted[0]!, i, chunk(i));
    assert.equal(ledger.durablePrefix(wanted[0]!), 0, 'written is not durable');
    await ledger.flush();
    assert.equal(ledger.durablePrefix(wanted[0]!), 4 * 4096, 'chunks 0-3 (2 is all zeros), then 4 is missing');
    for (const i of [4, 6, 7, 8, 9]) await ledger.write(wanted[0]!, i, chunk(i));
    await ledger.flush();
    assert.equal(ledger.durablePrefix(wanted[0]!), rel.table.size);
    const again = new ChunkLedger(realFs, dir, rel.releaseId, wanted, new RecordingSink(), { chunks: 1000, bytes: 1e9, writesInFlight: 4 });
    await again.load(() => assert.fail('intact'));
    assert.equal(again.durablePrefix(wanted[0]!), rel.table.size);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
