// Benchmark of the MQTT chunk transfer on loopback mosquitto: slotflip's receiver (CRC check,
// write, fdatasync, then read back and SHA-256) against a bare MQTT.js subscriber that only
// writes the chunks to a file, their ratio, the receiver's peak RSS for 64 and 256 MiB images
// (each receiver runs in a child process), and a chunk-size sweep.
//
//   node --import tsx bench/mqtt-transfer.ts [--size MiB] [--chunk KiB] [--runs N] [--no-sweep] [--sweep-runs N]
//                                            [--node PATH] [--rss-only] [--json FILE]
//   slotflip's receiver runs with the agent's node flags and environment (src/service/spec.ts),
//   the RSS table also with node's defaults; --node runs the children on another node (Debian's
//   Node 18: `node scripts/node18.mjs` prints its path); --rss-only skips throughput and sweep
//   and repeats the RSS runs --runs times.
//   SF_BENCH_DEBUG=1 prints per-run timings; SF_BENCH_NODE_ARGS adds node flags to the children;
//   SF_BENCH_RECEIVER_OPTS='{"syncEveryBytes":33554432}' overrides receiver options (tuning);
//   SF_BENCH_GC_PACE=bytes between paced scavenges; SF_BENCH_TRACE_MEM=1 logs memoryUsage().

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
import { bundleChild, setChildNode, startChild } from './lib/mqtt-child.js';
import { openRelease, writeRandomImage } from './lib/mqtt-image.js';
import { startMosquitto } from './lib/mqtt-mosquitto.js';
import { emit, median, metric, spread, type Metric } from './lib/metric.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../src/service/spec.js';

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
const rssOnly = process.argv.includes('--rss-only');
const childNode = arg('--node');
if (childNode) setChildNode(childNode);

/** How a receiver child is started: the agent's node flags and environment, or node's defaults. */
interface Launch {
  args: readonly string[];
  env: Readonly<Record<string, string>>;
}
const AGENT: Launch = { args: AGENT_NODE_FLAGS, env: AGENT_ENV };
const PLAIN: Launch = { args: [], env: {} };
const nodeNote = childNode ? ` on ${childNode}` : '';

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

    const slotflip = async (size: number, chunk: number, launch: Launch = AGENT): Promise<Run> => {
      const rel = await openRelease(image, size, chunk);
      const id = releaseId(rel.manifestBytes);
      const t = tmpTarget();
      const child = startChild(receiverChild, { url: broker.url, releaseId: id, ...t }, launch.args, launch.env);
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
    const rssRows = async (): Promise<{ label: string; small: Run[]; big: Run[] }[]> => {
      const out = [
        { label: "agent's flags and environment", launch: AGENT, small: [] as Run[], big: [] as Run[] },
        { label: 'node defaults', launch: PLAIN, small: [] as Run[], big: [] as Run[] },
      ];
      for (let i = 0; i < (rssOnly ? runs : 1); i++) {
        for (const row of out) {
          row.small.push(await slotflip(64 * MiB, chunkSize, row.launch));
          row.big.push(await slotflip(size, chunkSize, row.launch));
        }
      }
      return out;
    };
    const metrics: Metric[] = [];
    if (!rssOnly) {
      const bareRuns: Run[] = [];
      const sfRuns: Run[] = [];
      for (let i = 0; i < runs; i++) {
        bareRuns.push(await bare(size, chunkSize));
        sfRuns.push(await slotflip(size, chunkSize));
      }
      const bareMibps = median(bareRuns.map((r) => r.mibps));
      const sfMibps = median(sfRuns.map((r) => r.mibps));
      const ratios = sfRuns.map((r, i) => r.mibps / bareRuns[i]!.mibps);
      metrics.push(
        metric(`mqtt receive ${sizeMiB} MiB @${chunkSize / 1024}K`, sfMibps, 'MiB/s', 'bare mqtt.js subscriber, write only', bareMibps, `slotflip ${spread(sfRuns.map((r) => r.mibps))}; bare ${spread(bareRuns.map((r) => r.mibps))}; paired ratios ${ratios.map((x) => x.toFixed(2)).join(' ')}`),
        metric(`mqtt receiver CPU ${sizeMiB} MiB`, median(sfRuns.map((r) => r.cpuMsPerMiB)), 'ms/MiB', 'bare mqtt.js subscriber, write only', median(bareRuns.map((r) => r.cpuMsPerMiB)), 'user+system CPU of the receiving process, start-up included'),
      );
      console.log(`\nMQTT chunk transfer${nodeNote}, loopback mosquitto, ${sizeMiB} MiB random image, ${chunkSize / 1024} KiB chunks, ${runs} interleaved runs each (median)`);
      console.log(table([
        ['receiver', 'MiB/s', 'runs (MiB/s)', 'CPU ms/MiB', 'peak RSS MiB'],
        ['bare mqtt.js subscriber (write only)', fmt(bareMibps), bareRuns.map((r) => fmt(r.mibps)).join(' '), fmt(median(bareRuns.map((r) => r.cpuMsPerMiB))), fmt(Math.max(...bareRuns.map((r) => r.rssMiB)))],
        ['slotflip (CRC, write, fdatasync, read back + SHA-256)', fmt(sfMibps), sfRuns.map((r) => fmt(r.mibps)).join(' '), fmt(median(sfRuns.map((r) => r.cpuMsPerMiB))), fmt(Math.max(...sfRuns.map((r) => r.rssMiB)))],
      ]));
      console.log(`ratio slotflip / bare: ${(sfMibps / bareMibps).toFixed(3)} (paired: ${ratios.map((x) => x.toFixed(2)).join(' ')}; aim >= 0.9)`);
    }
    const rss = await rssRows();
    const peak = (rs: Run[]): number => median(rs.map((r) => r.rssMiB));
    const range = (rs: Run[]): string => (rs.length > 1 ? ` (${fmt(Math.min(...rs.map((r) => r.rssMiB)))}–${fmt(Math.max(...rs.map((r) => r.rssMiB)))})` : '');
    for (const row of rss) {
      metrics.push(metric(`mqtt receiver peak RSS ${sizeMiB} MiB, ${row.label}`, peak(row.big), 'MiB', 'same, 64 MiB image', peak(row.small), `at rest (connected, before the transfer) ${fmt(median(row.big.map((r) => r.restMiB)))} MiB; n=${row.big.length}`));
    }
    console.log(`\nslotflip receiver peak RSS${nodeNote}, MiB, median of ${rss[0]!.big.length} (range)`);
    console.log(table([
      ['node flags and environment', '64 MiB image', `${sizeMiB} MiB image`, 'difference', 'at rest'],
      ...rss.map((row) => [row.label, fmt(peak(row.small)) + range(row.small), fmt(peak(row.big)) + range(row.big), fmt(peak(row.big) - peak(row.small)), fmt(median(row.big.map((r) => r.restMiB)))]),
    ]));
    console.log(`(the agent's: ${[...AGENT.args, ...Object.entries(AGENT.env).map(([k, v]) => `${k}=${v}`)].join(' ')}; aims: flat in image size within 2 MiB, at most 64 MiB)`);

    if (sweep && !rssOnly) {
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
