// slotflip's receiver in its own process (so its peak RSS is its own): fetch the release into
// a file (CRC check, write, fdatasync in batches) while reading back what is durable without a
// gap, then read back the rest and compare the SHA-256 with the manifest, as the agent does
// (src/agent/release.ts: SlotReadback fed by onDurablePrefix). Prints one JSON line when done.
// argv[2]: JSON { url, releaseId, dataDir, target }

import mqtt from 'mqtt';
import { ChunkTable, parseManifest } from '../../src/bundle/manifest.js';
import { realFs } from '../../src/platform/fs.js';
import { FileChunkSink } from '../../src/transfer/file-sink.js';
import { SlotReadback } from '../../src/slots/readback.js';
import { inlineSha256 } from '../../src/slots/digest.js';
import { receiveRelease } from '../../src/transfer/receiver.js';
import { setGcPace } from '../../src/transfer/mqtt.js';

const o = JSON.parse(process.argv[2]!) as { url: string; releaseId: string; dataDir: string; target: string };
// Tuning: SF_BENCH_GC_PACE=bytes between paced scavenges (only with --expose-gc; 0: none).
if (process.env.SF_BENCH_GC_PACE) setGcPace(Number(process.env.SF_BENCH_GC_PACE));
const client = await mqtt.connectAsync(o.url, { clientId: `bench-recv-${process.pid}` });
let sink: FileChunkSink | undefined;
let readback: SlotReadback | undefined;
// Peak of each memory figure, sampled, to see what the RSS is made of: only when asked for
// (SF_BENCH_DEBUG prints it), since process.memoryUsage() every 20 ms costs ~1.5% of the
// receiver's CPU and the bare subscriber it is compared with pays nothing of the kind.
const peak: Record<string, number> = {};
const sampling = Boolean(process.env.SF_BENCH_DEBUG || process.env.SF_BENCH_TRACE_MEM);
const sampler = !sampling ? undefined : setInterval(() => {
  const mu = process.memoryUsage();
  for (const [k, v] of Object.entries(mu)) peak[k] = Math.max(peak[k] ?? 0, Math.round(v / 1024 / 1024));
  if (process.env.SF_BENCH_TRACE_MEM) process.stderr.write(`mem ${Math.round(performance.now())} rss ${(mu.rss / 1048576).toFixed(1)} heap ${(mu.heapUsed / 1048576).toFixed(1)} ab ${(mu.arrayBuffers / 1048576).toFixed(1)}\n`);
}, 20);
const restRssKiB = Math.round(process.memoryUsage().rss / 1024);
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
const t0 = performance.now();
const res = await receiveRelease(client, {
  board: 'bench-board',
  releaseId: o.releaseId,
  deviceId: 'bench-device',
  dataDir: o.dataDir,
  acceptManifest: async (bytes) => parseManifest(bytes),
  // Tuning experiments: SF_BENCH_RECEIVER_OPTS='{"syncEveryBytes":33554432}'
  ...(JSON.parse(process.env.SF_BENCH_RECEIVER_OPTS ?? '{}') as object),
  sink: async (m) => {
    // The agent's read-back: the board's 1 MiB buffer, two of them (read overlaps hashing).
    readback = new SlotReadback(realFs, o.target, m.payloads[0]!.size, inlineSha256(1024 * 1024));
    return (sink = new FileChunkSink(realFs, new Map(m.payloads.map((p) => [p.name, { file: o.target, table: new ChunkTable(p) }]))));
  },
  onDurablePrefix: (_name, bytes) => readback?.advance(bytes),
});
await sink!.close();
const t1 = performance.now();
// What is left of the read-back after the last sync, and the digest of the whole payload.
const payload = res.manifest.payloads[0]!;
const ok = await readback!.finish(payload.sha256).then(
  () => true,
  () => false,
);
const t2 = performance.now();
process.stdout.write(JSON.stringify({ done: true, ok, stats: res.stats, transferMs: t1 - t0, readbackMs: t2 - t1, cpuMs: cpuMs(), memoryMiB: peak, restRssKiB, maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
clearInterval(sampler);
await client.endAsync();

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
