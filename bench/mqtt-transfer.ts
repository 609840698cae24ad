// Benchmark of the MQTT chunk transfer on loopback mosquitto: slotflip's receiver (CRC check,
// write, fdatasync, then read back and SHA-256) against a bare MQTT.js subscriber that only
// writes the chunks to a file, their ratio, the receiver's peak RSS for 64 and 256 MiB images
// (each receiver runs in a child process), and a chunk-size sweep.
//
//   node --import tsx bench/mqtt-transfer.ts [--size MiB] [--chunk KiB] [--runs N] [--no-sweep] [--sweep-runs N] [--json FILE]
//   SF_BENCH_DEBUG=1 prints per-run timings; SF_BENCH_NODE_ARGS adds node flags to the children;
//   SF_BENCH_RECEIVER_OPTS='{"syncEveryBytes":33554432}' overrides receiver options (tuning).

import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { DEFAULT_CHUNK_SIZE, releaseId } from '../src/bundle/manifest.js';
import { serveRelease } from '../src/transfer/publisher.js';
import { releaseTopics } from '../src/transfer/topics.js';
import { DEFAULT_WINDOW } from '../src/transfer/flow.js';
import { setNoDelay } from '../src/transfer/mqtt.js';
import { publishBare } from './lib/mqtt-bare-publisher.js';
import { bundleChild, startChild } from './lib/mqtt-child.js';
import { openRelease, writeRandomImage } from './lib/mqtt-image.js';
import { startMosquitto } from './lib/mqtt-mosquitto.js';
import { emit, median, metric, spread, type Metric } from './lib/metric.js';

const MiB = 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const sizeMiB = Number(arg('--size') ?? 256);
const chunkSize = Number(arg('--chunk') ?? DEFAULT_CHUNK_SIZE / 1024) * 1024;
const runs = Number(arg('--runs') ?? 3);
const sweep = !process.argv.includes('--no-sweep');
const sweepRuns = Number(arg('--sweep-runs') ?? 1);

interface Run {
  mibps: number;
  /** Peak RSS of the receiver process, and its RSS once connected, before the transfer. */
  rssMiB: number;
  restMiB: number;
  cpuMsPerMiB: number;
}

async function main(): Promise<void> {
  const broker = await startMosquitto();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-bench-'));
  const image = path.join(dir, 'image.bin');
  let pub: MqttClient | undefined;
  try {
    await writeRandomImage(image, sizeMiB * MiB);
    const receiverChild = await bundleChild(path.join(here, 'lib', 'mqtt-receiver-child.ts'), dir);
    const bareChild = await bundleChild(path.join(here, 'lib', 'mqtt-bare-child.ts'), dir);
    pub = await mqtt.connectAsync(broker.url, { clientId: 'bench-publisher' });
    setNoDelay(pub);
    let n = 0;
    const tmpTarget = (): { target: string; dataDir: string } => ({ target: path.join(dir, `t${++n}.img`), dataDir: path.join(dir, `d${n}`) });
    const result = (size: number, secs: number, r: Record<string, unknown>): Run => ({
      mibps: size / MiB / secs,
      rssMiB: (r.maxRssKiB as number) / 1024,
      restMiB: (r.restRssKiB as number) / 1024,
      cpuMsPerMiB: (r.cpuMs as number) / (size / MiB),
    });

    const slotflip = async (size: number, chunk: number, nodeArgs: string[] = []): Promise<Run> => {
      const rel = await openRelease(image, size, chunk);
      const id = releaseId(rel.manifestBytes);
      const t = tmpTarget();
      const child = startChild(receiverChild, { url: broker.url, releaseId: id, ...t }, nodeArgs);
      try {
        await child.next();
        const t0 = performance.now();
        const server = await serveRelease(pub!, { board: 'bench-board', ...rel, announce: false });
        const r = await child.next();
        const secs = (performance.now() - t0) / 1000;
        await server.close({ withdraw: true });
        if (!r.ok) throw new Error('slotflip receiver: read-back digest does not match the manifest');
        if (process.env.SF_BENCH_DEBUG) console.error(JSON.stringify({ secs, cpuMs: r.cpuMs, transferMs: r.transferMs, readbackMs: r.readbackMs, memoryMiB: r.memoryMiB }));
        return result(size, secs, r);
      } finally {
        await child.finish();
        await rel.close();
        await fsp.rm(t.target, { force: true });
        await fsp.rm(t.dataDir, { recursive: true, force: true });
      }
    };

    const bare = async (size: number, chunk: number): Promise<Run> => {
      const rel = await openRelease(image, size, chunk);
      const id = releaseId(rel.manifestBytes);
      const topic = releaseTopics(undefined, 'bench-board', id).chunks;
      const t = tmpTarget();
      const chunks = Math.ceil(size / chunk);
      const child = startChild(bareChild, { url: broker.url, topic, ackTopic: `${topic}/bare-ack`, target: t.target, chunkSize: chunk, chunks });
      try {
        await child.next();
        const t0 = performance.now();
        const window = Math.max(2, Math.min(DEFAULT_WINDOW.frames, Math.floor(DEFAULT_WINDOW.bytes / chunk)));
        const sent = publishBare(pub!, rel, id, topic, `${topic}/bare-ack`, window);
        const r = await child.next();
        const secs = (performance.now() - t0) / 1000;
        await sent;
        return result(size, secs, r);
      } finally {
        await child.finish();
        await rel.close();
        await fsp.rm(t.target, { force: true });
      }
    };

    // Interleaved, so a busy moment of the machine hits both sides alike.
    const size = sizeMiB * MiB;
    const bareRuns: Run[] = [];
    const sfRuns: Run[] = [];
    for (let i = 0; i < runs; i++) {
      bareRuns.push(await bare(size, chunkSize));
      sfRuns.push(await slotflip(size, chunkSize));
    }
    const small = await slotflip(64 * MiB, chunkSize);
    const lean = ['--max-semi-space-size=1'];
    const smallLean = await slotflip(64 * MiB, chunkSize, lean);
    const bigLean = await slotflip(size, chunkSize, lean);
    const bareMibps = median(bareRuns.map((r) => r.mibps));
    const sfMibps = median(sfRuns.map((r) => r.mibps));
    const rssBig = Math.max(...sfRuns.map((r) => r.rssMiB));
    const restBig = Math.max(...sfRuns.map((r) => r.restMiB));
    const ratios = sfRuns.map((r, i) => r.mibps / bareRuns[i]!.mibps);

    const metrics: Metric[] = [
      metric(`mqtt receive ${sizeMiB} MiB @${chunkSize / 1024}K`, sfMibps, 'MiB/s', 'bare mqtt.js subscriber, write only', bareMibps, `slotflip ${spread(sfRuns.map((r) => r.mibps))}; bare ${spread(bareRuns.map((r) => r.mibps))}; paired ratios ${ratios.map((x) => x.toFixed(2)).join(' ')}`),
      metric(`mqtt receiver CPU ${sizeMiB} MiB`, median(sfRuns.map((r) => r.cpuMsPerMiB)), 'ms/MiB', 'bare mqtt.js subscriber, write only', median(bareRuns.map((r) => r.cpuMsPerMiB)), 'user+system CPU of the receiving process, start-up included'),
      metric(`mqtt receiver peak RSS ${sizeMiB} MiB`, rssBig, 'MiB', 'same receiver, 64 MiB image', small.rssMiB, `at rest (connected, before the transfer) ${fmt(restBig)} MiB`),
      metric(`mqtt receiver peak RSS ${sizeMiB} MiB, --max-semi-space-size=1`, bigLean.rssMiB, 'MiB', 'same, 64 MiB image', smallLean.rssMiB, `at rest ${fmt(bigLean.restMiB)} MiB`),
    ];

    console.log(`\nMQTT chunk transfer, loopback mosquitto, ${sizeMiB} MiB random image, ${chunkSize / 1024} KiB chunks, ${runs} interleaved runs each (median)`);
    console.log(table([
      ['receiver', 'MiB/s', 'runs (MiB/s)', 'CPU ms/MiB', 'peak RSS MiB'],
      ['bare mqtt.js subscriber (write only)', fmt(bareMibps), bareRuns.map((r) => fmt(r.mibps)).join(' '), fmt(median(bareRuns.map((r) => r.cpuMsPerMiB))), fmt(Math.max(...bareRuns.map((r) => r.rssMiB)))],
      ['slotflip (CRC, write, fdatasync, read back + SHA-256)', fmt(sfMibps), sfRuns.map((r) => fmt(r.mibps)).join(' '), fmt(median(sfRuns.map((r) => r.cpuMsPerMiB))), fmt(rssBig)],
    ]));
    console.log(`ratio slotflip / bare: ${(sfMibps / bareMibps).toFixed(3)} (paired: ${ratios.map((x) => x.toFixed(2)).join(' ')}; aim >= 0.9)`);
    console.log(table([
      ['slotflip receiver RSS, MiB', '64 MiB image', `${sizeMiB} MiB image`, 'difference', 'at rest'],
      ['default node flags', fmt(small.rssMiB), fmt(rssBig), fmt(rssBig - small.rssMiB), fmt(restBig)],
      ['--max-semi-space-size=1', fmt(smallLean.rssMiB), fmt(bigLean.rssMiB), fmt(bigLean.rssMiB - smallLean.rssMiB), fmt(bigLean.restMiB)],
    ]));
    console.log('(aims: flat in image size within 2 MiB, at most 64 MiB)');

    if (sweep) {
      const rows: string[][] = [['chunk KiB', 'bare MiB/s', 'slotflip MiB/s', 'ratio', 'slotflip CPU ms/MiB', 'bare CPU ms/MiB', 'slotflip RSS MiB']];
      for (const c of [64, 128, 256, 512, 1024].map((k) => k * 1024)) {
        const bs: Run[] = [];
        const ss: Run[] = [];
        for (let i = 0; i < sweepRuns; i++) {
          bs.push(await bare(size, c));
          ss.push(await slotflip(size, c));
        }
        const b = median(bs.map((r) => r.mibps));
        const sf = median(ss.map((r) => r.mibps));
        const cpu = median(ss.map((r) => r.cpuMsPerMiB));
        const rss = Math.max(...ss.map((r) => r.rssMiB));
        rows.push([String(c / 1024), fmt(b), fmt(sf), (sf / b).toFixed(3), fmt(cpu), fmt(median(bs.map((r) => r.cpuMsPerMiB))), fmt(rss)]);
        metrics.push(metric(`mqtt receive ${sizeMiB} MiB @${c / 1024}K (sweep)`, sf, 'MiB/s', 'bare mqtt.js subscriber, write only', b, `slotflip CPU ${fmt(cpu)} ms/MiB, RSS ${fmt(rss)} MiB, n=${sweepRuns}`));
      }
      console.log(`\nchunk size sweep, ${sizeMiB} MiB image, median of ${sweepRuns} interleaved run(s) each`);
      console.log(table(rows));
    }
    console.log('');
    emit(metrics);
  } finally {
    await pub?.endAsync(true);
    await broker.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

function fmt(x: number): string {
  return x.toFixed(1);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

await main();
