// The power-cut sweep: run a flow once to count its disk-changing calls, then for every call k
// and every cut mode run it again with the power cut at k, boot what survived, check that the
// device is safe (a valid env copy, a verified image in the slot the bootloader picks), and
// that running the flow again from there ends where it should. MCUboot's simulator does the
// same at every flash write.

import { isPowerCut, formatCall, type CallLabel, type CutMode, CUT_MODES, type MemoryFs } from '../support/memory-fs.js';
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
  /** With depth 2: cut points tried during the re-runs. */
  secondCutPoints?: number;
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
  /** 2: also cut power at every call of each re-run (a cut during recovery). Default 1. */
  depth?: number;
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

/** One uninterrupted run from `start` (default: the world's initial disk): the calls it makes. */
export async function countCalls(flow: Flow, world: World, start?: MemoryFs): Promise<CountedCall[]> {
  const rig = new Rig((start ?? world.image).clone(), world);
  await flow.run(rig);
  await flow.check(rig);
  return rig.fs.log.map((c, i) => ({ ...c, pending: rig.fs.supply.pending[i]! }));
}

/** Install times in state files differ from run to run and steer nothing: left out of fingerprints. */
function canonical(file: string, bytes: Buffer): Uint8Array {
  if (!file.endsWith('.json')) return bytes;
  return Buffer.from(bytes.toString('utf8').replace(/"(installedAt|updatedAt|at)": "[^"]*"/g, '"$1": ""'));
}

type Found = Omit<Violation, 'k' | 'mode' | 'call'>;

interface Ctx {
  flow: Flow;
  world: World;
  modes: readonly CutMode[];
  depth: number;
  /** `level:fingerprint` → findings: what follows a cut depends only on the disk it left. */
  memo: Map<string, Found[]>;
  cutPoints: number[]; // per level
}

/** Cuts power at call k in `mode` of a run from `start`, boots, checks, re-runs. Empty: all well. */
async function cutOnce(ctx: Ctx, start: MemoryFs | undefined, k: number, mode: CutMode, level: number): Promise<Found[]> {
  const rig = new Rig((start ?? ctx.world.image).clone(), ctx.world);
  rig.fs.armCut(k, { mode });
  try {
    await ctx.flow.run(rig);
    return [{ phase: 'cut', message: `the flow finished without reaching call ${k}` }];
  } catch (err) {
    if (!isPowerCut(err) || !rig.fs.isOff) return [{ phase: 'cut', message: `the flow failed before the cut: ${describe(err)}` }];
  }
  const next = new Rig(rig.fs.afterCut(), ctx.world);
  const key = `${level}:${next.fs.fingerprint(canonical)}`;
  const known = ctx.memo.get(key);
  if (known) return known;
  const found = await judge(ctx, next, level);
  ctx.memo.set(key, found);
  return found;
}

/** The disk a cut left: bootable? does the flow, run again, end where it should (also when cut again)? */
async function judge(ctx: Ctx, next: Rig, level: number): Promise<Found[]> {
  const { violations } = await next.bootability();
  if (violations.length) return violations.map((message) => ({ phase: 'boot', message })); // a re-run would only repeat it
  const disk = level < ctx.depth ? next.fs.clone() : undefined;
  try {
    await ctx.flow.run(next);
    await ctx.flow.check(next);
  } catch (err) {
    return [{ phase: 'rerun', message: describe(err) }];
  }
  if (!disk) return [];
  const nested = await cutEverywhere(ctx, disk, level + 1, 3);
  return nested.details.map((v) => ({ phase: 'rerun', message: `cut again at ${v.call} (${v.mode}) during the re-run: ${v.phase}: ${v.message}` }));
}

/** Every cut point of a run from `start`; returns up to `keep` violations (all are counted by the caller's level). */
async function cutEverywhere(
  ctx: Ctx,
  start: MemoryFs | undefined,
  level: number,
  keep: number,
  only?: readonly number[],
  onViolation?: () => void,
): Promise<{ calls: number; details: Violation[] }> {
  const calls = await countCalls(ctx.flow, ctx.world, start);
  const out: Violation[] = [];
  for (const call of calls) {
    if (only && !only.includes(call.n)) continue;
    for (const mode of ctx.modes) {
      if (!modeApplies(mode, call)) continue;
      ctx.cutPoints[level - 1] = (ctx.cutPoints[level - 1] ?? 0) + 1;
      const found = await cutOnce(ctx, start, call.n, mode, level);
      if (!found.length) continue;
      onViolation?.(); // one violation per cut point, however many things are wrong after it
      if (out.length < keep) out.push({ k: call.n, mode, call: formatCall(call), phase: found[0]!.phase, message: found.map((f) => f.message).join('; ') });
    }
  }
  return { calls: calls.length, details: out };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  for (let e = err.cause, i = 0; e instanceof Error && i < 4; e = e.cause, i++) parts.push(e.message);
  return parts.join(' ← ');
}

export async function sweepFlow(flow: Flow, world: World, opts: SweepOptions = {}): Promise<FlowReport> {
  const started = performance.now();
  const ctx: Ctx = { flow, world, modes: opts.modes ?? CUT_MODES, depth: opts.depth ?? 1, memo: new Map(), cutPoints: [] };
  let violations = 0;
  const { calls, details } = await cutEverywhere(ctx, undefined, 1, opts.maxDetails ?? 50, opts.only, () => violations++);
  const report: FlowReport = {
    name: flow.name,
    calls,
    cutPoints: ctx.cutPoints[0] ?? 0,
    distinctDisks: [...ctx.memo.keys()].filter((k) => k.startsWith('1:')).length,
    violations,
    details,
    ms: 0,
  };
  if (ctx.depth > 1) report.secondCutPoints = ctx.cutPoints.slice(1).reduce((a, b) => a + b, 0);
  report.ms = Math.round(performance.now() - started);
  return report;
}

export async function sweep(flows: readonly Flow[], world: World, opts: SweepOptions = {}): Promise<SweepReport> {
  const reports: FlowReport[] = [];
  for (const f of flows) reports.push(await sweepFlow(f, world, opts));
  return {
    cutPoints: reports.reduce((s, r) => s + r.cutPoints + (r.secondCutPoints ?? 0), 0),
    violations: reports.reduce((s, r) => s + r.violations, 0),
    flows: reports,
  };
}
