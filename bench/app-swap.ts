// App swap bench: a separate load process hammers the sample worker through the watcher's socket
// (a new connection per request), first in steady state, then across 20 consecutive swaps (one
// to a never-ready worker, refused). Prints requests served, failures, refused connections and
// latency during swaps beside steady state. `node --import tsx bench/app-swap.ts [--json FILE]`

import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../src/agent/worker/supervisor.js';
import { makeAppDir, tempDir, workerConfig } from '../test/agent/worker/helpers.js';

const LOAD_CLIENT = fileURLToPath(new URL('../test/agent/worker/fixtures/load-client.mjs', import.meta.url));
const SWAPS = 20;
const NEVER_READY_AT = 10;
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 8);

interface Metric {
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  ratio: number | null;
}

interface Report {
  ok: number;
  failed: number;
  refused: number;
  errors: Record<string, number>;
  /** [start ms since the client's origin, latency ms, 1 ok / 0 failed] */
  samples: [number, number, number][];
  origin: number;
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function window(r: Report, from: number, to: number): { served: number; failed: number; p50: number; p99: number; seconds: number } {
  const inside = r.samples.filter(([t]) => r.origin + t >= from && r.origin + t < to);
  const lat = inside.filter((s) => s[2] === 1).map((s) => s[1]).sort((a, b) => a - b);
  return { served: lat.length, failed: inside.length - lat.length, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), seconds: (to - from) / 1000 };
}

const ratio = (value: number, base: number): number | null => (base ? value / base : value === 0 ? 1 : null);
const metric = (name: string, value: number, unit: string, baseline: string, baselineValue: number): Metric => ({
  name,
  value: Math.round(value * 100) / 100,
  unit,
  baseline,
  baselineValue: Math.round(baselineValue * 100) / 100,
  ratio: ratio(value, baselineValue) === null ? null : Math.round(ratio(value, baselineValue)! * 1000) / 1000,
});

async function main(): Promise<void> {
  const jsonAt = process.argv.indexOf('--json');
  const jsonFile = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;
  const tmp = tempDir('sf-bench-swap-');
  const apps = [makeAppDir(tmp.dir, 'a', '1.0.0'), makeAppDir(tmp.dir, 'b', '2.0.0')];
  const broken = makeAppDir(tmp.dir, 'broken', '9.9.9', { SAMPLE_NEVER_READY: '1' });
  const sup = new Supervisor({ config: workerConfig({ terminateTimeoutSeconds: 5 }), appDir: apps[0], output: 'ignore' });
  try {
    await sup.start();
    await sup.waitHealthy(10_000);
    const port = sup.sockets[0]!.port!;
    const client = fork(LOAD_CLIENT, [String(port), String(CONCURRENCY)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const origin = await new Promise<number>((resolve) => client.once('message', (m: { origin?: number }) => resolve(m.origin ?? Date.now())));

    await delay(1000); // warm-up, not measured
    const steadyFrom = Date.now();
    await delay(5000);
    const swapFrom = Date.now();
    const swapMs: number[] = [];
    let refusedSwaps = 0;
    for (let i = 0; i < SWAPS; i++) {
      const t0 = Date.now();
      if (i === NEVER_READY_AT) {
        await sup.swap({ appDir: broken }, { healthWindowMs: 1000 }).then(
          () => {
            throw new Error('the never-ready worker was accepted');
          },
          () => refusedSwaps++,
        );
      } else {
        await sup.swap({ appDir: apps[(i + 1) % 2]! });
        swapMs.push(Date.now() - t0);
      }
    }
    const swapTo = Date.now();
    const report = await new Promise<Report>((resolve) => {
      client.on('message', (m: { type: string }) => {
        if (m.type === 'report') resolve({ ...(m as unknown as Report), origin });
      });
      client.send('stop');
    });

    const steady = window(report, steadyFrom, swapFrom);
    const swaps = window(report, swapFrom, swapTo);
    const metrics: Metric[] = [
      metric('app-swap-throughput', swaps.served / swaps.seconds, 'req/s', 'steady state', steady.served / steady.seconds),
      metric('app-swap-requests', swaps.served, 'requests', 'steady state, same duration', (steady.served / steady.seconds) * swaps.seconds),
      metric('app-swap-failures', report.failed, 'requests', 'steady state', steady.failed),
      metric('app-swap-refused', report.refused, 'connections', 'steady state', 0),
      metric('app-swap-p50-latency', swaps.p50, 'ms', 'steady state', steady.p50),
      metric('app-swap-p99-latency', swaps.p99, 'ms', 'steady state', steady.p99),
      metric('app-swap-duration', swapMs.reduce((a, b) => a + b, 0) / swapMs.length, 'ms', 'none', 0),
    ];
    console.log(`app swap bench: ${SWAPS} swaps (${refusedSwaps} refused: never ready) in ${((swapTo - swapFrom) / 1000).toFixed(1)} s, ${CONCURRENCY} request loops, new connection per request`);
    for (const m of metrics) console.log(`  ${m.name.padEnd(22)} ${String(m.value).padStart(10)} ${m.unit.padEnd(12)} baseline ${m.baselineValue} (${m.baseline})${m.ratio === null ? '' : `  ratio ${m.ratio}`}`);
    if (Object.keys(report.errors).length) console.log(`  errors: ${JSON.stringify(report.errors)}`);
    if (jsonFile) writeFileSync(jsonFile, JSON.stringify(metrics, null, 2) + '\n');
    if (report.failed || report.refused || refusedSwaps !== 1) process.exitCode = 1;
  } finally {
    await sup.stop();
    tmp.cleanup();
  }
}

await main();
