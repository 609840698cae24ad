// The power-cut sweep: run a flow once to count its disk-changing calls, then for every call k
// and every cut mode run it again with the power cut at k, boot what survived, check that the
// device is safe (a valid env copy, a verified image in the slot the bootloader picks), and
// that running the flow again from there ends where it should. MCUboot's simulator does the
// same at every flash write.

import { isPowerCut, formatCall, type CallLabel, type CutMode, CUT_MODES } from '../support/memory-fs.js';
import type { Flow } from './flows.js';
import { Rig } from './rig.js';
import type { World } from './world.js';

export interface Violation {
  k: number;
  mode: CutMode;
  /** The call at which power was cut. */
  call: string;
  /** boot: the device was unsafe right after the cut; rerun: running the flow again failed. */
  phase: 'cut' | 'boot' | 'rerun';
  message: string;
}

export interface FlowReport {
  name: string;
  /** Disk-changing calls in one uninterrupted run. */
  calls: number;
  /** (k, mode) pairs tried (modes that cannot differ from lose at k are not counted). */
  cutPoints: number;
  /** Different disks those cuts left; each was booted, checked and the flow re-run on it once. */
  distinctDisks: number;
  /** Cut points after which something was wrong. */
  violations: number;
  details: Violation[];
  ms: number;
}

export interface SweepReport {
  cutPoints: number;
  violations: number;
  flows: FlowReport[];
}

export interface SweepOptions {
  modes?: readonly CutMode[];
  /** Only these k (1-based), for reproducing one case. */
  only?: readonly number[];
  /** Keep at most this many violation details per flow (all are counted). */
  maxDetails?: number;
}

export interface CountedCall extends CallLabel {
  /** Unsynced file data / directory entries existed just before the call. */
  pending: { data: boolean; entries: boolean };
}

/**
 * Whether cutting in `mode` can leave a disk that mode lose does not: torn only at a call
 * that moves bytes, flushed only with unsynced data, metadata only with unsynced entries.
 */
function modeApplies(mode: CutMode, call: CountedCall): boolean {
  switch (mode) {
    case 'lose':
      return true;
    case 'torn':
      return call.op === 'write' || call.op === 'sync' || call.op === 'datasync';
    case 'flushed':
      return call.pending.data;
    case 'metadata':
      return call.pending.entries;
  }
}

/** One uninterrupted run: the calls it makes, or a thrown error when the flow itself fails. */
export async function countCalls(flow: Flow, world: World): Promise<CountedCall[]> {
  const rig = Rig.fresh(world);
  await flow.run(rig);
  await flow.check(rig);
  return rig.fs.log.map((c, i) => ({ ...c, pending: rig.fs.supply.pending[i]! }));
}

/** Cuts power at call k in `mode`, boots, checks, re-runs. Returns what went wrong (empty: nothing). */
/** Install times in state files differ from run to run and steer nothing: left out of fingerprints. */
function canonical(file: string, bytes: Buffer): Uint8Array {
  if (!file.endsWith('.json')) return bytes;
  return Buffer.from(bytes.toString('utf8').replace(/"(installedAt|updatedAt|at)": "[^"]*"/g, '"$1": ""'));
}

type Found = Omit<Violation, 'k' | 'mode' | 'call'>;

/**
 * Cuts power at call k in `mode`, boots, checks, re-runs. Returns what went wrong (empty:
 * nothing). What follows the cut depends only on the disk it left, so `memo` (disk
 * fingerprint → findings) spares re-running a flow on a disk already judged.
 */
export async function cutOnce(flow: Flow, world: World, k: number, mode: CutMode, memo?: Map<string, Found[]>): Promise<Found[]> {
  const rig = Rig.fresh(world);
  rig.fs.armCut(k, { mode });
  try {
    await flow.run(rig);
    return [{ phase: 'cut', message: `the flow finished without reaching call ${k}` }];
  } catch (err) {
    if (!isPowerCut(err) || !rig.fs.isOff) return [{ phase: 'cut', message: `the flow failed before the cut: ${describe(err)}` }];
  }
  const next = new Rig(rig.fs.afterCut(), world);
  const key = memo ? next.fs.fingerprint(canonical) : '';
  const known = memo?.get(key);
  if (known) return known;
  const found = await afterCut(flow, next);
  memo?.set(key, found);
  return found;
}

async function afterCut(flow: Flow, next: Rig): Promise<Found[]> {
  const { violations } = await next.bootability();
  const found: Found[] = violations.map((message) => ({ phase: 'boot', message }));
  if (found.length) return found; // the re-run would only repeat it
  try {
    await flow.run(next);
    await flow.check(next);
  } catch (err) {
    found.push({ phase: 'rerun', message: describe(err) });
  }
  return found;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  for (let e = err.cause, i = 0; e instanceof Error && i < 4; e = e.cause, i++) parts.push(e.message);
  return parts.join(' ← ');
}

export async function sweepFlow(flow: Flow, world: World, opts: SweepOptions = {}): Promise<FlowReport> {
  const started = performance.now();
  const modes = opts.modes ?? CUT_MODES;
  const calls = await countCalls(flow, world);
  const report: FlowReport = { name: flow.name, calls: calls.length, cutPoints: 0, distinctDisks: 0, violations: 0, details: [], ms: 0 };
  const memo = new Map<string, Found[]>();
  for (const call of calls) {
    if (opts.only && !opts.only.includes(call.n)) continue;
    for (const mode of modes) {
      if (!modeApplies(mode, call)) continue;
      report.cutPoints++;
      // One violation per cut point, however many things are wrong after it.
      const found = await cutOnce(flow, world, call.n, mode, memo);
      if (!found.length) continue;
      report.violations++;
      if (report.details.length < (opts.maxDetails ?? 50)) {
        report.details.push({ k: call.n, mode, call: formatCall(call), phase: found[0]!.phase, message: found.map((f) => f.message).join('; ') });
      }
    }
  }
  report.distinctDisks = memo.size;
  report.ms = Math.round(performance.now() - started);
  return report;
}

export async function sweep(flows: readonly Flow[], world: World, opts: SweepOptions = {}): Promise<SweepReport> {
  const reports: FlowReport[] = [];
  for (const f of flows) reports.push(await sweepFlow(f, world, opts));
  return {
    cutPoints: reports.reduce((s, r) => s + r.cutPoints, 0),
    violations: reports.reduce((s, r) => s + r.violations, 0),
    flows: reports,
  };
}
