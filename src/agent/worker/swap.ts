// The zero-downtime swap, step by step: a candidate worker starts on the same listening
// sockets, must say READY=1 within the health window and then stay alive and heart-beating
// through a trial period; only then is it promoted and the old worker told to drain.

import { WorkerStateError, WorkerUnhealthyError, type UnhealthyReason } from './errors.js';
import type { Supervisor } from './supervisor.js';
import type { ExitInfo, WorkerProcess, WorkerSpec } from './worker-process.js';

export interface SwapOptions {
  /** How long the candidate may take to say READY=1 (default: healthWindowSeconds). */
  healthWindowMs?: number;
  /** How long both serve after READY before the old one drains (default: drainSeconds). */
  trialMs?: number;
}

export interface SwapResult {
  pid: number | undefined;
  generation: number;
  appDir: string | undefined;
  previousPid: number | undefined;
  /** From spawn to READY=1. */
  readyMs: number;
  /** From SIGTERM of the old worker to its exit (0 when there was none). */
  drainMs: number;
  previousExit: ExitInfo | undefined;
}

interface Timings {
  healthWindowMs: number;
  trialMs: number;
  terminateTimeoutMs: number;
}

export async function runSwap(sup: Supervisor, spec: WorkerSpec, t: Timings): Promise<SwapResult> {
  const started = Date.now();
  const candidate = sup.spawnWorker(spec, 'candidate', t.healthWindowMs);
  let readyMs = 0;
  try {
    await phase(sup, candidate, 'ready', 0);
    readyMs = Date.now() - started;
    if (t.trialMs > 0) await phase(sup, candidate, 'trial', t.trialMs);
    if (!sup.isRunning) throw new WorkerStateError('supervisor stopped during the swap');
  } catch (err) {
    await candidate.terminate(t.terminateTimeoutMs);
    sup.emit('swap-failed', { pid: candidate.pid, generation: candidate.generation, error: err });
    throw err;
  }
  const old = sup.promote(candidate, spec);
  sup.emit('swapped', { pid: candidate.pid, generation: candidate.generation, previousPid: old?.pid, appDir: spec.appDir });
  const drainStart = Date.now();
  const previousExit = old ? await old.terminate(t.terminateTimeoutMs) : undefined;
  return {
    pid: candidate.pid,
    generation: candidate.generation,
    appDir: spec.appDir,
    previousPid: old?.pid,
    readyMs,
    drainMs: old ? Date.now() - drainStart : 0,
    previousExit,
  };
}

/**
 * 'ready': resolves on READY=1 (the worker's own ready timer reports a miss as unhealthy).
 * 'trial': resolves after `ms` unless the candidate exits or misses a heartbeat first.
 */
function phase(sup: Supervisor, w: WorkerProcess, kind: 'ready' | 'trial', ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      w.off('ready', onReady);
      w.off('unhealthy', onUnhealthy);
      w.off('exit', onExit);
      sup.off('stopping', onStop);
      if (err) reject(err);
      else resolve();
    };
    const what = `new worker ${w.pid ?? '(not started)'}`;
    const onReady = (): void => {
      if (kind === 'ready') done();
    };
    const onUnhealthy = (reason: UnhealthyReason): void => {
      const msg = reason === 'ready-timeout' ? `${what} was not ready within the health window` : `${what} stopped heart-beating during its trial`;
      done(new WorkerUnhealthyError(reason, msg, { details: { pid: w.pid, phase: kind } }));
    };
    const onExit = (e: ExitInfo): void => {
      const how = e.error ? e.error.message : e.signal ? `signal ${e.signal}` : `code ${e.code}`;
      done(new WorkerUnhealthyError('exited', `${what} exited (${how}) ${kind === 'ready' ? 'before it was ready' : 'during its trial'}`, { cause: e.error, details: { pid: w.pid, phase: kind, code: e.code, signal: e.signal } }));
    };
    const onStop = (): void => done(new WorkerStateError('supervisor stopped during the swap'));
    const timer = kind === 'trial' ? setTimeout(() => done(), ms) : undefined;
    w.on('ready', onReady);
    w.on('unhealthy', onUnhealthy);
    w.on('exit', onExit);
    sup.on('stopping', onStop);
    // The candidate may already be past this point (READY before we listened, or gone).
    if (w.exitStatus) onExit(w.exitStatus);
    else if (w.state === 'unhealthy') onUnhealthy('ready-timeout');
    else if (kind === 'ready' && w.state === 'ready') done();
  });
}
