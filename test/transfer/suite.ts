// The transfer contract, run against every broker the project supports (aedes in-process in
// transfer.test.ts, a real mosquitto in transfer.system.test.ts): full transfer with digest
// check, two devices on one stream, resume, refusal, timeout, publisher and broker restarts,
// rogue frames.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { serveRelease } from '../../src/transfer/publisher.js';
import { encodeEnvelope } from '../../src/transfer/envelope.js';
import { encodeFrame, releaseIdBytes } from '../../src/transfer/frame.js';
import { releaseTopics } from '../../src/transfer/topics.js';
import { encodeDeviceMessage } from '../../src/transfer/messages.js';
import { Bitmap } from '../../src/transfer/bitmap.js';
import { connect, makeRelease, sha256File, tempDir, type Broker } from './support.js';
import { device } from './harness.js';
import { dropChunkFrames } from './lossy.js';

export function transferSuite(name: string, startBroker: () => Promise<Broker>): void {
  describe(`transfer over ${name}`, () => {
    let broker: Broker;
    let pub: MqttClient;
    let dir: string;

    before(async () => {
      broker = await startBroker();
      pub = await connect(broker.url, 'publisher');
      dir = await tempDir();
    });

    after(async () => {
      await pub?.endAsync(true);
      await broker?.close();
      await fsp.rm(dir, { recursive: true, force: true });
    });

    test('a device fetches a release; the file matches the payload digest and zero chunks never travel', async () => {
      const rel = makeRelease(3 * 1024 * 1024 + 1234, 64 * 1024, [3, 4, 5, 20], 11);
      const server = await serveRelease(pub, { board: 'test-board', ...rel });
      const dev = await device(broker.url, 'dev-full', dir, rel);
      try {
        // The release found through its announcement's topic, as the agent does.
        const res = await dev.fetch({ board: undefined, topic: server.topics.base });
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.equal(res.stats.zeroChunks, 4);
        assert.equal(res.stats.chunksWritten, rel.table.count - 4);
        assert.equal(res.stats.badCrc, 0);
        assert.equal(server.stats.framesSent, rel.table.count - 4);
        await server.whenComplete(['dev-full']);
      } finally {
        await dev.close();
        await server.close({ withdraw: true });
      }
    });

    test('two devices on one release share the stream; a late joiner gets only what it missed again', async () => {
      const rel = makeRelease(4 * 1024 * 1024, 32 * 1024, [], 12);
      const a = await device(broker.url, 'dev-a', dir, rel);
      const b = await device(broker.url, 'dev-b', dir, rel);
      const c = await device(broker.url, 'dev-c', dir, rel);
      // Both listen before the manifest exists, so their joins arrive together.
      const ra = a.fetch();
      const rb = b.fetch();
      const server = await serveRelease(pub, { board: 'test-board', ...rel, coalesceMs: 200 });
      try {
        await Promise.all([ra, rb]);
        const count = rel.table.count;
        assert.ok(server.stats.framesSent <= count + 2, `sent ${server.stats.framesSent} frames for ${count} chunks to two devices`);
        for (const d of [a, b]) assert.equal(await sha256File(d.target), rel.sha256);

        // A third device joins after the stream ended: it gets the release, once more.
        const before = server.stats.framesSent;
        const rc = await c.fetch();
        assert.equal(await sha256File(c.target), rel.sha256);
        assert.equal(server.stats.framesSent - before, count);
        assert.equal(rc.stats.duplicates, 0);
        await server.whenComplete(['dev-a', 'dev-b', 'dev-c']);
      } finally {
        await Promise.all([a.close(), b.close(), c.close()]);
        await server.close({ withdraw: true });
      }
    });

    test('devices that each lose their own frames are repaired by coded frames, not by resending every lost chunk', async () => {
      const rel = makeRelease(2 * 1024 * 1024, 32 * 1024, [7], 19); // 64 chunks, one all-zero
      const topics = releaseTopics(undefined, 'test-board', rel.releaseId);
      const devs = await Promise.all(Array.from({ length: 12 }, (_, k) => device(broker.url, `dev-lossy-${k}`, dir, rel)));
      const losses = devs.map((d, k) => dropChunkFrames(d.client, topics.chunks, 0.1, 900 + k));
      const runs = devs.map((d) => d.fetch({ idleMs: 3000 }));
      const server = await serveRelease(pub, { board: 'test-board', ...rel, coalesceMs: 100 });
      try {
        const results = await Promise.all(runs);
        for (const d of devs) assert.equal(await sha256File(d.target), rel.sha256, d.id);
        const count = rel.table.count - 1;
        const repaired = results.reduce((n, r) => n + r.stats.chunksRepaired, 0);
        const worst = Math.max(...losses.map((l) => l.dropped));
        const dropped = losses.reduce((n, l) => n + l.dropped, 0);
        const what = `${server.stats.framesSent} frames (${server.stats.repairSent} repair, ${server.stats.resent} resent) for ${count} chunks; ${dropped} frames dropped at devices, ${worst} at the worst one; ${repaired} chunks rebuilt`;
        assert.ok(repaired > 0 && server.stats.repairSent > 0, what);
        // Resending lost chunks would cost about as many frames as distinct chunks lost by
        // anyone (most of the 63 here); coded frames cost about the worst device's loss.
        assert.ok(server.stats.framesSent - count <= worst + 8, what);
        await server.whenComplete(devs.map((d) => d.id));
      } finally {
        await Promise.all(devs.map((d) => d.close()));
        await server.close({ withdraw: true });
      }
    });

    test('a device whose sink cannot read chunks back gets lost chunks resent, not repair frames', async () => {
      const rel = makeRelease(1024 * 1024, 32 * 1024, [], 20);
      const topics = releaseTopics(undefined, 'test-board', rel.releaseId);
      const dev = await device(broker.url, 'dev-noread', dir, rel);
      const loss = dropChunkFrames(dev.client, topics.chunks, 0.15, 77);
      const r = dev.receiver({ idleMs: 3000 }, (sink) => ({ write: sink.write.bind(sink), writeZero: sink.writeZero.bind(sink), sync: sink.sync.bind(sink) }));
      const server = await serveRelease(pub, { board: 'test-board', ...rel });
      try {
        const res = await r.run();
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.ok(loss.dropped > 0);
        assert.equal(server.stats.repairSent, 0);
        assert.equal(res.stats.repairFrames, 0);
        assert.ok(server.stats.resent >= 1);
      } finally {
        await dev.close();
        await server.close({ withdraw: true });
      }
    });

    test('a device stopped midway resumes and fetches only the chunks it lacked', async () => {
      const rel = makeRelease(4 * 1024 * 1024, 64 * 1024, [7], 13);
      const count = rel.table.count;
      const server = await serveRelease(pub, { board: 'test-board', ...rel });
      const dev = await device(broker.url, 'dev-resume', dir, rel);
      try {
        let haveAtStop = 0;
        await assert.rejects(
          dev.fetch({ syncEveryChunks: 4 }, (r) =>
            r.on('progress', (p) => {
              if (p.have >= count / 3 && haveAtStop === 0) {
                haveAtStop = p.have;
                r.stop();
              }
            }),
          ),
          (err: Error & { code?: string }) => err.code === 'SF_ERR_TRANSFER_ABORTED',
        );
        assert.ok(haveAtStop > 0 && haveAtStop < count);
        const res = await dev.fetch({ syncEveryChunks: 4 });
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.ok(res.stats.resumedChunks >= haveAtStop, `resumed ${res.stats.resumedChunks}, had ${haveAtStop}`);
        assert.equal(res.stats.resumedChunks + res.stats.chunksWritten, count);
        const lacking = (count - res.stats.resumedChunks) * rel.table.chunkSize;
        assert.ok(res.stats.bytesReceived <= lacking, `fetched ${res.stats.bytesReceived} bytes after the restart, lacked ${lacking}`);
      } finally {
        await dev.close();
        await server.close({ withdraw: true });
      }
    });

    test('a refused manifest writes nothing and surfaces the agent\'s error', async () => {
      const rel = makeRelease(256 * 1024, 64 * 1024, [], 14);
      const server = await serveRelease(pub, { board: 'test-board', ...rel });
      const dev = await device(broker.url, 'dev-refuse', dir, rel);
      try {
        const refusal = Object.assign(new Error('bad signature'), { code: 'SF_ERR_SIGNATURE' });
        await assert.rejects(dev.fetch({ acceptManifest: async () => Promise.reject(refusal) }), (err) => err === refusal);
        await assert.rejects(fsp.stat(dev.target), { code: 'ENOENT' });
        assert.equal(server.stats.framesSent, 0);
      } finally {
        await dev.close();
        await server.close({ withdraw: true });
      }
    });

    test('with no publisher the receiver gives up with SF_ERR_TRANSFER_TIMEOUT', async () => {
      const rel = makeRelease(64 * 1024, 64 * 1024, [], 15);
      const dev = await device(broker.url, 'dev-timeout', dir, rel);
      try {
        await assert.rejects(dev.fetch({ timeoutMs: 300 }), (err: Error & { code?: string }) => err.code === 'SF_ERR_TRANSFER_TIMEOUT');
      } finally {
        await dev.close();
      }
    });

    test('a restarted publisher (new epoch) picks up where devices are', async () => {
      const rel = makeRelease(4 * 1024 * 1024, 64 * 1024, [], 16);
      // A small window keeps the first publisher from sending everything before it is stopped.
      let server = await serveRelease(pub, { board: 'test-board', ...rel, window: { frames: 8 } });
      const first = server;
      const dev = await device(broker.url, 'dev-epoch', dir, rel);
      try {
        let restarted: Promise<void> | undefined;
        const res = await dev.fetch({ syncEveryChunks: 4 }, (r) =>
          r.on('progress', (p) => {
            if (!restarted && p.have >= 16) {
              restarted = server.close().then(async () => {
                server = await serveRelease(pub, { board: 'test-board', ...rel });
              });
            }
          }),
        );
        await restarted;
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.equal(res.stats.chunksWritten, rel.table.count);
        assert.ok(first.stats.framesSent < rel.table.count, `first publisher sent ${first.stats.framesSent} of ${rel.table.count}`);
        assert.ok(server !== first && server.stats.framesSent >= rel.table.count - first.stats.framesSent);
      } finally {
        await dev.close();
        await server.close({ withdraw: true });
      }
    });

    test('rogue frames (bad CRC, wrong chunk table, other release, truncated, garbage) are counted and ignored', async () => {
      const rel = makeRelease(1024 * 1024, 64 * 1024, [2], 17);
      const topics = releaseTopics(undefined, 'test-board', rel.releaseId);
      const rogue = await connect(broker.url, 'rogue');
      const dev = await device(broker.url, 'dev-rogue', dir, rel);
      let server: Awaited<ReturnType<typeof serveRelease>> | undefined;
      try {
        // The manifest alone, without a publisher: the device subscribes and waits for frames.
        await pub.publishAsync(topics.manifest, encodeEnvelope(rel.manifestBytes, rel.sigBytes), { qos: 1, retain: true });
        const warnings: Error[] = [];
        let onWarn!: () => void;
        const fourWarnings = new Promise<void>((resolve) => (onWarn = resolve));
        const run = dev.fetch({}, (r) => {
          r.on('warning', (e) => warnings.push(e) >= 4 && onWarn());
          r.once('subscribed', () => void sendRogues());
        });
        const rid = releaseIdBytes(rel.releaseId);
        const chunk0 = rel.payload.subarray(0, 64 * 1024);
        const flipped = Buffer.from(chunk0);
        flipped[100] ^= 0xff;
        const sendRogues = async (): Promise<void> => {
          const frames = [
            encodeFrame({ releaseId: releaseIdBytes('00000000deadbeef'), epoch: 1, seq: 1, payload: 0, chunk: 0, data: flipped }),
            encodeFrame({ releaseId: rid, epoch: 1, seq: 2, payload: 0, chunk: 0, data: flipped }), // CRC of frame ok, manifest's not
            encodeFrame({ releaseId: rid, epoch: 1, seq: 3, payload: 0, chunk: 0, data: flipped, crc: rel.table.crc(0) }), // frame CRC wrong
            encodeFrame({ releaseId: rid, epoch: 1, seq: 4, payload: 0, chunk: 0, data: chunk0 }).subarray(0, 1000), // truncated
            encodeFrame({ releaseId: rid, epoch: 1, seq: 5, payload: 0, chunk: 2, data: Buffer.alloc(64 * 1024) }), // a zero chunk never travels
            Buffer.from('garbage'),
          ];
          for (const f of frames) await rogue.publishAsync(topics.chunks, f, { qos: 1 });
        };
        await fourWarnings;
        server = await serveRelease(pub, { board: 'test-board', ...rel });
        const res = await run;
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.equal(res.stats.otherRelease, 2, 'the other release and the garbage');
        assert.equal(res.stats.badCrc, 2);
        assert.equal(res.stats.badFrames, 2);
        assert.ok(warnings.some((w) => (w as Error & { code?: string }).code === 'SF_ERR_CRC'));
      } finally {
        await rogue.endAsync(true);
        await dev.close();
        await server?.close({ withdraw: true });
      }
    });

    test('a device that joins and goes silent holds the stream back only until it counts as stalled', async () => {
      const rel = makeRelease(2 * 1024 * 1024, 64 * 1024, [], 19);
      const server = await serveRelease(pub, { board: 'test-board', ...rel, window: { frames: 4, stallMs: 300 } });
      const ghost = await connect(broker.url, 'ghost');
      const dev = await device(broker.url, 'dev-alive', dir, rel);
      try {
        const all = new Bitmap(rel.table.count);
        all.addRange(0, rel.table.count);
        const join = encodeDeviceMessage({ kind: 'join', device: 'ghost', epoch: 0, seq: 0, have: 0, total: rel.table.count, bytes: 0, totalBytes: rel.payload.length, missing: new Map([[0, all]]) });
        await ghost.publishAsync(server.topics.requests, join, { qos: 1 });
        const started = Date.now();
        const res = await dev.fetch();
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.equal(res.stats.chunksWritten, rel.table.count);
        assert.ok(Date.now() - started >= 300, 'the silent device was never waited for');
      } finally {
        await ghost.endAsync(true);
        await dev.close();
        await server.close({ withdraw: true });
      }
    });

    test('a broker restart mid-transfer: both sides reconnect and the transfer completes', async () => {
      const rel = makeRelease(4 * 1024 * 1024, 64 * 1024, [], 18);
      const server = await serveRelease(pub, { board: 'test-board', ...rel, window: { frames: 8 } });
      const dev = await device(broker.url, 'dev-broker', dir, rel);
      try {
        let restarted: Promise<void> | undefined;
        let haveAtRestart = 0;
        const res = await dev.fetch({ syncEveryChunks: 4 }, (r) =>
          r.on('progress', (p) => {
            if (!restarted && p.have >= 16) {
              haveAtRestart = p.have;
              restarted = broker.restart();
            }
          }),
        );
        await restarted;
        assert.ok(haveAtRestart > 0 && haveAtRestart < rel.table.count);
        assert.equal(await sha256File(dev.target), rel.sha256);
        assert.equal(res.stats.resumedChunks + res.stats.chunksWritten, rel.table.count);
      } finally {
        await dev.close();
        await server.close({ withdraw: true });
      }
    });
  });
}
