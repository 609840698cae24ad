// Benchmark of the MQTT chunk transfer on loopback mosquitto: slotflip's receiver (CRC check,
// write, fdatasync, then read back and SHA-256) against a bare MQTT.js subscriber that only
// writes the chunks to a file, their ratio, the receiver's peak RSS for 64 and 256 MiB images
// (each receiver runs in a child process), and a chunk-size sweep.
//
//   node --import tsx bench/mqtt-transfer.ts [--size MiB] [--chunk KiB] [--runs N] [--no-sweep] [--json FILE]

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
const jsonFile = arg('--json');

interface Run {
  mibps: number;
  rssMiB: number;
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

    const slotflip = async (size: number, chunk: number): Promise<Run> => {
      const rel = await openRelease(image, size, chunk);
      const id = releaseId(rel.manifestBytes);
      const t = tmpTarget();
      const child = startChild(receiverChild, { url: broker.url, releaseId: id, ...t });
      try {
        await child.next();
        const t0 = performance.now();
        const server = await serveRelease(pub!, { board: 'bench-board', ...rel, announce: false });
        const r = await child.next();
        const secs = (performance.now() - t0) / 1000;
        await server.close({ withdraw: true });
        if (!r.ok) throw new Error('slotflip receiver: read-back digest does not match the manifest');
        if (process.env.SF_BENCH_DEBUG) console.error(JSON.stringify({ secs, cpuMs: r.cpuMs, transferMs: r.transferMs, readbackMs: r.readbackMs, stats: r.stats }));
        return { mibps: size / MiB / secs, rssMiB: (r.maxRssKiB as number) / 1024 };
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
        if (process.env.SF_BENCH_DEBUG) console.error(JSON.stringify({ bare: true, secs, cpuMs: r.cpuMs }));
        return { mibps: size / MiB / secs, rssMiB: (r.maxRssKiB as number) / 1024 };
      } finally {
        await child.finish();
        await rel.close();
        await fsp.rm(t.target, { force: true });
      }
    };

    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const repeat = async (f: () => Promise<Run>): Promise<Run[]> => {
      const out: Run[] = [];
      for (let i = 0; i < runs; i++) out.push(await f());
      return out;
    };

    const size = sizeMiB * MiB;
    const bareRuns = await repeat(() => bare(size, chunkSize));
    const sfRuns = await repeat(() => slotflip(size, chunkSize));
    const small = await slotflip(64 * MiB, chunkSize);
    const bareMibps = median(bareRuns.map((r) => r.mibps));
    const sfMibps = median(sfRuns.map((r) => r.mibps));
    const rssBig = Math.max(...sfRuns.map((r) => r.rssMiB));

    const results: { name: string; value: number; unit: string; baseline: string; baselineValue: number; ratio: number }[] = [];
    const add = (name: string, value: number, unit: string, baseline: string, baselineValue: number): void => {
      results.push({ name, value: round(value), unit, baseline, baselineValue: round(baselineValue), ratio: round(value / baselineValue, 3) });
    };
    add(`slotflip receiver throughput, ${sizeMiB} MiB, ${chunkSize / 1024} KiB chunks`, sfMibps, 'MiB/s', 'bare mqtt.js subscriber (write only)', bareMibps);
    add(`slotflip receiver peak RSS, ${sizeMiB} MiB image`, rssBig, 'MiB', 'same receiver, 64 MiB image', small.rssMiB);

    console.log(`\nMQTT chunk transfer, loopback mosquitto, ${sizeMiB} MiB image, ${chunkSize / 1024} KiB chunks, median of ${runs}`);
    console.log(table([
      ['receiver', 'MiB/s', 'runs (MiB/s)', 'peak RSS MiB'],
      ['bare mqtt.js subscriber (write only)', fmt(bareMibps), bareRuns.map((r) => fmt(r.mibps)).join(' '), fmt(Math.max(...bareRuns.map((r) => r.rssMiB)))],
      ['slotflip (CRC, write, fdatasync, read back + SHA-256)', fmt(sfMibps), sfRuns.map((r) => fmt(r.mibps)).join(' '), fmt(rssBig)],
    ]));
    console.log(`ratio slotflip / bare: ${(sfMibps / bareMibps).toFixed(3)} (aim >= 0.9)`);
    console.log(`slotflip receiver peak RSS: 64 MiB image ${fmt(small.rssMiB)} MiB, ${sizeMiB} MiB image ${fmt(rssBig)} MiB (difference ${fmt(rssBig - small.rssMiB)} MiB; aim: flat within 2 MiB, at most 64 MiB)`);

    if (sweep) {
      const rows: string[][] = [['chunk KiB', 'bare MiB/s', 'slotflip MiB/s', 'ratio', 'slotflip RSS MiB']];
      for (const c of [64, 128, 256, 512, 1024].map((k) => k * 1024)) {
        const b = await bare(size, c);
        const s = await slotflip(size, c);
        rows.push([String(c / 1024), fmt(b.mibps), fmt(s.mibps), (s.mibps / b.mibps).toFixed(3), fmt(s.rssMiB)]);
        add(`slotflip receiver throughput, ${sizeMiB} MiB, ${c / 1024} KiB chunks (sweep)`, s.mibps, 'MiB/s', 'bare mqtt.js subscriber (write only)', b.mibps);
      }
      console.log(`\nchunk size sweep, ${sizeMiB} MiB image, one run each`);
      console.log(table(rows));
    }
    if (jsonFile) await fsp.writeFile(jsonFile, JSON.stringify(results, null, 2) + '\n');
  } finally {
    await pub?.endAsync(true);
    await broker.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmt(x: number): string {
  return x.toFixed(1);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

await main();
