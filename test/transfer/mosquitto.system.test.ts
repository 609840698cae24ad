// Cases only a real mosquitto shows: its per-client queue limit (1000 messages, then QoS 1
// messages are dropped silently) and a device process killed with SIGKILL mid-download.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { serveRelease } from '../../src/transfer/publisher.js';
import type { ChunkSink } from '../../src/transfer/receiver.js';
import { connect, makeRelease, makeStreamedRelease, sha256File, startMosquitto, tempDir, type Mosquitto, type TestRelease } from './support.js';
import { device } from './harness.js';

let broker: Mosquitto;
let pub: MqttClient;
let dir: string;

before(async () => {
  broker = await startMosquitto();
  pub = await connect(broker.url, 'publisher');
  dir = await tempDir();
});

after(async () => {
  await pub?.endAsync(true);
  await broker?.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A disk that stalls now and then (as flash does on erase), so the broker's queue fills up. */
function stalling(sink: ChunkSink, every: number, ms: number): ChunkSink {
  let n = 0;
  return {
    write: async (p, i, d) => {
      if (++n % every === 0) await new Promise((r) => setTimeout(r, ms));
      await sink.write(p, i, d);
    },
    writeZero: (p, i, l) => sink.writeZero(p, i, l),
    sync: () => sink.sync(),
  };
}

async function queueLimitRun(id: string, window: { frames: number; bytes: number } | undefined) {
  const rel = makeRelease(64 * 1024 * 1024, 16 * 1024, [], 21);
  const server = await serveRelease(pub, { board: 'test-board', ...rel, ...(window ? { window } : {}) });
  const dev = await device(broker.url, id, dir, rel);
  try {
    const res = await dev.receiver({ idleMs: 500 }, (s) => stalling(s, 256, 100)).run();
    assert.equal(await sha256File(dev.target), rel.sha256);
    return { res, sent: server.stats.framesSent, count: rel.table.count };
  } finally {
    await dev.close();
    await server.close({ withdraw: true });
    await fsp.rm(dev.target, { force: true });
  }
}

test('64 MiB at 16 KiB chunks through mosquitto\'s 1000-message queue: paced by acks, nothing is lost', async (t) => {
  const { res, sent, count } = await queueLimitRun('dev-queue', undefined);
  t.diagnostic(`sent ${sent} frames for ${count} chunks; ${JSON.stringify(res.stats)}`);
  assert.equal(res.stats.framesLost, 0);
  assert.equal(sent, count, 'each chunk sent once');
});

test('without the window mosquitto drops frames, and requests repair the loss', async (t) => {
  // The control experiment: proves the test above exercises the queue limit at all.
  const { res, sent, count } = await queueLimitRun('dev-flood', { frames: 1_000_000, bytes: 1e12 });
  t.diagnostic(`sent ${sent} frames for ${count} chunks; ${JSON.stringify(res.stats)}`);
  assert.ok(res.stats.framesLost > 0, 'mosquitto dropped nothing; the queue limit was not reached');
  assert.ok(sent > count, `sent ${sent} for ${count} chunks: lost ones were sent again`);
});

test('a device process killed with SIGKILL mid-download resumes and fetches only what was not durable', async (t) => {
  const rel = makeRelease(32 * 1024 * 1024, 64 * 1024, [10, 11], 22);
  const server = await serveRelease(pub, { board: 'test-board', ...rel, window: { frames: 16 } });
  const dev = await device(broker.url, 'dev-kill', dir, rel);
  const args = { url: broker.url, board: 'test-board', releaseId: rel.releaseId, deviceId: 'dev-kill', dataDir: dev.dir, target: dev.target, syncEveryChunks: 16 };
  const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'receive-child.ts');
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let haveAtKill = 0;
    for await (const line of createInterface({ input: child.stdout! })) {
      const p = JSON.parse(line) as { have?: number; done?: boolean };
      assert.ok(!p.done, 'the child finished before it was killed');
      if ((p.have ?? 0) >= rel.table.count / 3) {
        haveAtKill = p.have!;
        child.kill('SIGKILL');
        break;
      }
    }
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    assert.equal(child.signalCode, 'SIGKILL');
    const res = await dev.fetch({ syncEveryChunks: 16 });
    t.diagnostic(`killed at ${haveAtKill} durable chunks of ${rel.table.count}; after restart: ${JSON.stringify(res.stats)}`);
    assert.equal(await sha256File(dev.target), rel.sha256);
    assert.ok(res.stats.resumedChunks >= haveAtKill, `resumed ${res.stats.resumedChunks}, child reported ${haveAtKill} durable`);
    // What it lacked, plus at most one window of frames that were already on their way.
    const lacking = (rel.table.count - res.stats.resumedChunks) * rel.table.chunkSize;
    const slack = 16 * rel.table.chunkSize;
    assert.ok(res.stats.bytesReceived <= lacking + slack, `fetched ${res.stats.bytesReceived} bytes after the restart for ${lacking} lacking`);
    assert.ok(res.stats.bytesReceived < rel.payload.length * 0.8, 'fetched (nearly) the whole image again');
  } finally {
    await dev.close();
    await server.close({ withdraw: true });
  }
});

test('a 1 GiB payload (no size cap) arrives intact', async (t) => {
  const rel = makeStreamedRelease(1024 * 1024 * 1024, 1024 * 1024, [3, 500, 501, 1023]);
  const server = await serveRelease(pub, { board: 'test-board', ...rel });
  const dev = await device(broker.url, 'dev-1g', dir, { ...rel, payload: Buffer.alloc(0) } as TestRelease);
  try {
    const started = Date.now();
    const res = await dev.fetch({ timeoutMs: 120_000 });
    t.diagnostic(`1 GiB in ${((Date.now() - started) / 1000).toFixed(1)} s; ${JSON.stringify(res.stats)}`);
    assert.equal(await sha256File(dev.target), rel.sha256);
    assert.equal(res.stats.chunksWritten, 1024 - 4);
    assert.equal(server.stats.framesSent, 1024 - 4);
  } finally {
    await dev.close();
    await server.close({ withdraw: true });
    await fsp.rm(dev.target, { force: true });
  }
});
