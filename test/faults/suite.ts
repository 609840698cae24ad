// The fault runs, against any broker: connection faults (proxy), data faults (rogue publisher),
// both at once, and the attacks that do end a run (forged CRCs, a replaced manifest). Each run
// ends committed with the right digest or failed with a typed code, never on a wrong slot.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../transfer/support.js';
import { describeRun, faultRun, type RunResult, type RunSpec } from './harness.js';
import type { FaultPlan } from './proxy.js';
import { HARMLESS_KINDS } from './rogue.js';

export interface SuiteOptions {
  seeds: number[];
  devicesPerRun: number;
  /** Image size per seed (bytes); runs alternate through the list. */
  imageBytes: number[];
  timeoutMs: number;
}

export const CONNECTION_FAULTS: Omit<FaultPlan, 'seed'> = {
  faultWindowMs: 8000,
  dropMeanMs: 1500,
  stallMeanMs: 1200,
  stallMs: [100, 1500],
  splitProbability: 0.3,
  splitMaxBytes: 64,
  splitMaxPieces: 24,
  delayProbability: 0.2,
  delayMs: [1, 25],
};

/** Runs one spec per seed, all at once (each its own devices and proxy), and reports them. */
async function runSeeds(label: string, o: SuiteOptions, spec: (seed: number, i: number) => Omit<RunSpec, 'seed' | 'ids' | 'imageBytes' | 'timeoutMs'>): Promise<RunResult[]> {
  const started = Date.now();
  const runs = await Promise.all(
    o.seeds.map((seed, i) =>
      faultRun({
        ...spec(seed, i),
        seed,
        ids: Array.from({ length: o.devicesPerRun }, (_, d) => `${label}-${seed}-${d}`),
        imageBytes: o.imageBytes[i % o.imageBytes.length]!,
        timeoutMs: o.timeoutMs,
      }),
    ),
  );
  const count = new Map<string, number>();
  for (const r of runs) {
    console.log(describeRun(label, r));
    for (const d of r.devices.values()) {
      const k = d.outcome === 'committed' ? 'committed' : `${d.outcome} ${d.code}`;
      count.set(k, (count.get(k) ?? 0) + 1);
    }
  }
  console.log(`${label}: ${runs.length} runs × ${o.devicesPerRun} devices in ${((Date.now() - started) / 1000).toFixed(1)} s: ${[...count].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  return runs;
}

/**
 * A device→broker read naming `topicPart`: for '/chunks' the first one is the SUBSCRIBE (a
 * device never publishes there). MQTT.js may write a packet's header and body separately, so
 * the packet type byte is not checked.
 */
export function isSubscribeTo(topicPart: string): (d: Buffer) => boolean {
  return (d) => d.includes(topicPart);
}

function assertAllCommitted(runs: RunResult[]): void {
  const other = runs.flatMap((r) => [...r.devices].filter(([, d]) => d.outcome !== 'committed').map(([id, d]) => `seed ${r.seed} ${id}: ${d.outcome} ${d.code}`));
  assert.deepEqual(other, [], runs.flatMap((r) => r.untyped).join('\n'));
}

function assertInvariant(runs: RunResult[]): void {
  const broken = runs.flatMap((r) => r.violations.map((v) => `seed ${r.seed}: ${v}`));
  // Every device ended committed or failed (a failure's code is checked apart).
  for (const r of runs) for (const [id, d] of r.devices) if (d.outcome !== 'committed' && d.outcome !== 'failed') broken.push(`seed ${r.seed} ${id}: ${d.outcome}`);
  const logs = runs.filter((r) => r.violations.length).flatMap((r) => r.logs.slice(-40));
  assert.deepEqual(broken, [], logs.join('\n'));
}

export function faultSuites(brokerName: string, startBroker: () => Promise<Broker>, o: SuiteOptions, parts: ('connection' | 'data' | 'combined' | 'attacks')[]): void {
  describe(`transport faults over ${brokerName}`, () => {
    let broker: Broker;
    before(async () => {
      broker = await startBroker();
    });
    after(async () => {
      await broker.close();
    });

    if (parts.includes('connection')) {
      let runs: RunResult[] = [];
      test('connection faults (drops, stalls, split and delayed writes): committed or failed, never a wrong slot', async () => {
        runs = await runSeeds('conn', o, () => ({ broker, proxy: CONNECTION_FAULTS }));
        assertInvariant(runs);
        // The faults happened: a proxy that did nothing proves nothing.
        assert.ok(runs.reduce((n, r) => n + r.proxy!.drops, 0) >= o.seeds.length, 'fewer drops than runs');
        assert.ok(runs.every((r) => r.proxy!.stalls > 0 && r.proxy!.splitWrites > 0));
      });
      test('connection faults only delay: every run commits', () => {
        assertAllCommitted(runs);
      });
      test('a connection drop that loses the chunks SUBSCRIBE: the device resubscribes and commits', async () => {
        const r = await faultRun({ seed: 99, broker, ids: [`subdrop-${brokerName}`], imageBytes: 1024 * 1024, timeoutMs: o.timeoutMs, proxy: { faultWindowMs: o.timeoutMs, dropOn: { match: isSubscribeTo('/chunks'), times: 1 } } });
        console.log(describeRun('subdrop', r), r.untyped);
        assert.equal(r.proxy!.targetedDrops, 1);
        assertInvariant([r]);
        assertAllCommitted([r]);
      });
    }

    if (parts.includes('data')) {
      test('rogue frames (bad CRC, other release, truncated, oversize, wrong data), garbage requests and a forged release are shrugged off', async () => {
        const runs = await runSeeds('data', o, () => ({ broker, rogue: { kinds: HARMLESS_KINDS, ratePerSecond: 60, durationMs: 60_000 }, forgedRelease: true }));
        assertInvariant(runs);
        assertAllCommitted(runs);
        for (const r of runs) for (const k of HARMLESS_KINDS) assert.ok(r.rogue!.sent[k] > 0, `seed ${r.seed} injected no ${k}`);
      });
    }

    if (parts.includes('combined')) {
      let runs: RunResult[] = [];
      test('connection and data faults at once, forged-CRC frames among them: committed or failed, never a wrong slot', async () => {
        // Forged-CRC frames in every other seed: those runs fail (the digest catches them), the others commit.
        runs = await runSeeds('both', o, (_s, i) => ({ broker, proxy: CONNECTION_FAULTS, rogue: { kinds: [...HARMLESS_KINDS, 'foreign-epoch', ...(i % 2 ? (['forged-crc'] as const) : [])], ratePerSecond: 40, durationMs: 60_000 } }));
        assertInvariant(runs);
      });
      test('under both, a run fails only because a forged chunk was caught by the digest', () => {
        assert.deepEqual(runs.flatMap((r) => r.untyped.map((u) => `seed ${r.seed}: ${u}`)), []);
        for (const r of runs) {
          for (const [id, d] of r.devices) {
            assert.ok(d.outcome === 'committed' || (d.outcome === 'failed' && d.code === 'SF_ERR_READBACK'), `seed ${r.seed} ${id}: ${d.outcome} ${d.code}`);
          }
        }
      });
    }

    if (parts.includes('attacks')) {
      test('wrong data forged to pass both CRCs is written, then caught by the digest: failed, env untouched', async () => {
        const runs = await runSeeds('forged', { ...o, seeds: o.seeds.slice(0, 2) }, () => ({ broker, rogue: { kinds: ['forged-crc'], ratePerSecond: 40, durationMs: 60_000, burstOnJoin: { kind: 'forged-crc', chunks: 8 } } }));
        assertInvariant(runs);
        for (const r of runs) for (const [id, d] of r.devices) assert.deepEqual([d.outcome, d.code, d.slot], ['failed', 'SF_ERR_READBACK', 'a'], `seed ${r.seed} ${id}`);
      });

      test('a retained manifest replaced mid-transfer (untrusted signature, or garbage) ends the transfer with SF_ERR_FRAME', async () => {
        const seeds = o.seeds.slice(0, 2);
        const runs = await runSeeds('manifest', { ...o, seeds }, (_s, i) => ({ broker, overwriteManifest: i % 2 ? 'garbage' : 'forged' }));
        assertInvariant(runs);
        for (const r of runs) for (const [id, d] of r.devices) assert.deepEqual([d.outcome, d.code, d.slot], ['failed', 'SF_ERR_FRAME', 'a'], `seed ${r.seed} ${id}`);
      });

      test('joins of phantom devices and frames of phantom publisher runs cost re-sends, not correctness', async () => {
        const runs = await runSeeds('phantom', { ...o, seeds: o.seeds.slice(0, 2) }, () => ({ broker, rogue: { kinds: ['phantom-join', 'foreign-epoch'], ratePerSecond: 4, durationMs: 60_000 } }));
        assertInvariant(runs);
        for (const r of runs) for (const [id, d] of r.devices) assert.equal(d.outcome, 'committed', `seed ${r.seed} ${id}`);
      });
    }
  });
}
