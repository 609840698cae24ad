// fanout-bytes: 100 simulated devices in one process, each with its own MQTT client, data dir
// and file sink, fetch one 16 MiB release from one mosquitto while each loses 5% of the chunk
// frames (test/transfer/lossy.ts). Figure: payload bytes the publisher sent / image size; the
// baseline is one device alone under the same loss (its bytes / size, and its wall time).
// A second fleet loses the same frames at every device (fanout-bytes-shared-loss). Lost frames
// are made up by coded repair frames (docs/protocol.md), so the stream costs about the image
// plus the worst device's loss.
// Receivers use the agent's defaults (idle re-join after 3 s): a shorter idle time makes
// devices that wait on the slowest re-join and re-request chunks already in flight.
//   node --import tsx bench/fanout.ts [--devices 100] [--loss 0.05] [--size 16M] [--json FILE]

import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import { chunkSizeFor, parseManifest } from '../src/bundle/manifest.js';
import { realFs } from '../src/platform/fs.js';
import { FileChunkSink } from '../src/transfer/file-sink.js';
import { receiveRelease, type ReceiveResult } from '../src/transfer/receiver.js';
import { serveRelease } from '../src/transfer/publisher.js';
import { releaseTopics } from '../src/transfer/topics.js';
import { connect, makeRelease, startMosquitto, tempDir, type TestRelease } from '../test/transfer/support.js';
import { dropChunkFrames, type LossStats } from '../test/transfer/lossy.js';
import { argValue, emit, metric, MiB, parseSize } from './lib/metric.js';
import { hasTool } from './lib/system.js';

const devices = Number(argValue(process.argv, '--devices') ?? 100);
const loss = Number(argValue(process.argv, '--loss') ?? 0.05);
const size = parseSize(argValue(process.argv, '--size') ?? '16M');
const chunkSize = Number(argValue(process.argv, '--chunk') ?? chunkSizeFor(size)); // what `bundle create` picks for this size
const BOARD = 'bench-board';

interface FleetRun {
  seconds: number;
  bytesSent: number;
  framesSent: number;
  resent: number;
  /** Coded repair frames among framesSent. */
  repairSent: number;
  dropped: number;
  /** Frames dropped at the device that lost the most: what coded repair has to make up for. */
  worstDropped: number;
  /** Chunks devices rebuilt from repair frames. */
  repaired: number;
  /** Frames devices received for chunks they already had. */
  duplicates: number;
  /** Join messages the publisher took (first joins and re-joins after silence). */
  joins: number;
}

/** One publisher and `n` lossy devices on a fresh release; resolves when all have it durable. */
async function fleet(url: string, dir: string, rel: TestRelease, n: number, seed: number, shared: boolean): Promise<FleetRun> {
  const chunks = releaseTopics(undefined, BOARD, rel.releaseId).chunks;
  const clients: MqttClient[] = [];
  const losses: LossStats[] = [];
  const sinks: FileChunkSink[] = [];
  const pub = await connect(url, `bench-pub-${seed}`);
  try {
    const fetches: Promise<ReceiveResult>[] = [];
    for (let i = 0; i < n; i++) {
      const id = `bench-${seed}-${i}`;
      const client = await connect(url, id);
      clients.push(client);
      losses.push(dropChunkFrames(client, chunks, loss, seed * 1000 + (shared ? 0 : i) + 1));
      const sink = new FileChunkSink(realFs, new Map([[rel.manifest.payloads[0]!.name, { file: path.join(dir, `${id}.img`), table: rel.table }]]));
      sinks.push(sink);
      fetches.push(
        receiveRelease(client, { board: BOARD, releaseId: rel.releaseId, deviceId: id, dataDir: path.join(dir, `${id}-data`), acceptManifest: async (b) => parseManifest(b), sink, timeoutMs: 120_000 }),
      );
    }
    const started = process.hrtime.bigint();
    // Devices listen before the release appears, as a fleet does when the operator publishes.
    const server = await serveRelease(pub, { board: BOARD, ...rel, coalesceMs: 200 });
    let joins = 0;
    server.on('join', () => joins++);
    try {
      const results = await Promise.all(fetches);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const { bytesSent, framesSent, resent, repairSent } = server.stats;
      const duplicates = results.reduce((a, r) => a + r.stats.duplicates, 0);
      const repaired = results.reduce((a, r) => a + r.stats.chunksRepaired, 0);
      const worstDropped = Math.max(...losses.map((l) => l.dropped));
      return { seconds, bytesSent, framesSent, resent, repairSent, dropped: losses.reduce((a, l) => a + l.dropped, 0), worstDropped, repaired, duplicates, joins };
    } finally {
      await server.close({ withdraw: true });
    }
  } finally {
    await Promise.all(sinks.map((s) => s.close()));
    await Promise.all([pub, ...clients].map((c) => c.endAsync(true)));
  }
}

/** Expected sends per chunk when each of n devices independently loses a frame with probability p and every loss is repaired by one more broadcast: E[max of n geometric counts]. */
function expectedSends(n: number, p: number): number {
  let e = 1;
  for (let k = 1; k < 60; k++) e += 1 - (1 - p ** k) ** n;
  return e;
}

if (!hasTool('mosquitto')) {
  console.log('fanout-bytes: skipped, mosquitto is not installed (Debian: apt-get install mosquitto)');
  emit([{ name: 'fanout-bytes', value: NaN, unit: 'x size', baseline: 'one device alone', baselineValue: NaN, ratio: null, note: 'skipped: mosquitto not installed' }]);
} else {
  const broker = await startMosquitto();
  const dir = await tempDir('sf-bench-fanout-');
  try {
    const release = (seed: number): TestRelease => makeRelease(size, chunkSize, [], seed);
    const one = await fleet(broker.url, await fsp.mkdtemp(path.join(dir, 'one-')), release(101), 1, 1, false);
    const many = await fleet(broker.url, await fsp.mkdtemp(path.join(dir, 'many-')), release(102), devices, 2, false);
    // The same frames lost at every device: loss before the broker (the publisher's own link).
    const same = await fleet(broker.url, await fsp.mkdtemp(path.join(dir, 'same-')), release(103), devices, 3, true);
    const bound = expectedSends(devices, loss);
    const describe = (r: FleetRun): string =>
      `${r.framesSent} frames (${r.repairSent} repair, ${r.resent} resent), ${r.joins} joins, ${r.dropped} frames dropped (${r.worstDropped} at the worst device), ${r.repaired} chunks rebuilt from repair frames and ${r.duplicates} duplicates at devices, ${r.seconds.toFixed(1)} s`;
    console.log(`fanout: ${size / MiB} MiB release, ${chunkSize / 1024} KiB chunks, ${(loss * 100).toFixed(0)}% of chunk frames lost per device`);
    console.log(`  one device:  ${describe(one)}`);
    console.log(`  ${devices} devices, independent loss: ${describe(many)}`);
    console.log(`  ${devices} devices, the same frames lost everywhere: ${describe(same)}`);
    emit([
      metric('fanout-bytes', many.bytesSent / size, 'x size', 'one device alone', one.bytesSent / size,
        `${devices} devices, each losing its own ${loss * 100}%: ${describe(many)}; one device: ${describe(one)}; repairing independent losses by resending lost chunks would need ${bound.toFixed(2)} x size on average (expected max over devices); coded repair frames need about the worst device's loss`),
      metric('fanout-bytes-shared-loss', same.bytesSent / size, 'x size', 'one device alone', one.bytesSent / size, `${devices} devices losing the same ${loss * 100}% of frames: ${describe(same)}`),
      metric('fanout-time', many.seconds, 's', 'one device alone', one.seconds,
        `wall time for ${devices} devices (independent loss) beside one: ${(size / MiB / many.seconds).toFixed(1)} MiB/s per device, ${((size * devices) / MiB / many.seconds).toFixed(0)} MiB/s delivered in all`),
    ]);
  } finally {
    await broker.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
