// The watcher's worker supervisor: owns the listening sockets, keeps one worker serving on
// them (restarts with exponential backoff, restarts a worker that stops heart-beating), and
// swaps in a new worker without dropping a connection. Sequence and contract: docs/worker.md.

import { EventEmitter } from 'node:events';
import type { WorkerConfig } from '../../config/device.js';
import { ConfigError } from '../../errors.js';
import { realFs, type FileSystem } from '../../platform/fs.js';
import { WorkerBusyError, WorkerStateError, WorkerUnhealthyError, type UnhealthyReason } from './errors.js';
import { PidFile } from './pid-file.js';
import { realProcesses, type ProcessSeam } from './process-seam.js';
import { ListenSockets, type ListenSocket } from './sockets.js';
import { runSwap, type SwapOptions, type SwapResult } from './swap.js';
import { WorkerProcess, type ExitInfo, type WorkerSpec } from './worker-process.js';

export interface SupervisorOptions {
  config: WorkerConfig;
  /** The app folder `{app}` stands for at start (an app slot folder, not the `current` link). */
  appDir?: string;
  processes?: ProcessSeam;
  fs?: FileSystem;
  /** Where worker pids are kept so a restarted watcher can stop its predecessor's workers. */
  pidFile?: string;
  shell?: string;
  /** The workers' stdout/stderr: the agent's own (default) or nowhere. */
  output?: 'inherit' | 'ignore';
  /** Restart a worker that misses its heartbeat or never gets ready (default true). */
  restartUnhealthy?: boolean;
  /** A worker healthy this long resets the restart backoff (default 10 s). */
  backoffResetMs?: number;
}

/** What a swap starts: a new app folder for `{app}`, and/or another command, extra env. */
export interface SwapTarget {
  appDir?: string;
  command?: string[];
  env?: Record<string, string>;
}

export type WorkerRole = 'current' | 'candidate' | 'retired';

export interface WorkerEvent {
  pid: number | undefined;
  generation: number;
  role: WorkerRole;
}

export interface WorkerInfo extends WorkerEvent {
  state: WorkerProcess['state'];
  appDir: string | undefined;
  status: string;
}

type RunState = 'idle' | 'running' | 'stopping' | 'stopped';

export class Supervisor extends EventEmitter {
  readonly config: WorkerConfig;
  private readonly seam: ProcessSeam;
  private readonly fs: FileSystem;
  private readonly pidFile: PidFile | undefined;
  private readonly shell: string;
  private readonly output: 'inherit' | 'ignore';
  private readonly restartUnhealthy: boolean;
  private readonly backoffResetMs: number;
  private runState: RunState = 'idle';
  private listen: ListenSockets | undefined;
  private spec: WorkerSpec;
  private worker: WorkerProcess | undefined;
  private readonly live = new Set<WorkerProcess>();
  private readonly roles = new Map<WorkerProcess, WorkerRole>();
  private generation = 0;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private swapping: Promise<SwapResult> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: SupervisorOptions) {
    super();
    this.config = options.config;
    this.seam = options.processes ?? realProcesses;
    this.fs = options.fs ?? realFs;
    this.pidFile = options.pidFile ? new PidFile(options.pidFile, this.fs, this.seam) : undefined;
    this.shell = options.shell ?? '/bin/sh';
    this.output = options.output ?? 'inherit';
    this.restartUnhealthy = options.restartUnhealthy ?? true;
    this.backoffResetMs = options.backoffResetMs ?? 10_000;
    this.backoffMs = this.config.restartBackoff.initialMs;
    this.spec = this.makeSpec({ appDir: options.appDir });
  }

  get sockets(): readonly ListenSocket[] {
    return this.listen?.sockets ?? [];
  }

  get current(): WorkerInfo | undefined {
    return this.worker ? this.info(this.worker) : undefined;
  }

  /** Every worker process alive now: the current one, a swap candidate, one draining. */
  get workers(): WorkerInfo[] {
    return [...this.live].map((w) => this.info(w));
  }

  get healthy(): boolean {
    return this.worker?.state === 'ready';
  }

  get swapInProgress(): boolean {
    return this.swapping !== undefined;
  }

  /** Stops leftovers of an earlier watcher, creates the sockets, starts the first worker. */
  async start(): Promise<void> {
    if (this.runState !== 'idle') throw new WorkerStateError(`supervisor cannot start: it is ${this.runState}`);
    this.runState = 'running';
    try {
      if (this.pidFile) {
        const reaped = await this.pidFile.reap(this.config.terminateTimeoutSeconds * 1000);
        if (reaped.length) this.emit('reaped', reaped);
      }
      this.listen = await ListenSockets.open(this.config.sockets, this.seam);
    } catch (err) {
      this.runState = 'stopped';
      throw err;
    }
    if (this.runState !== 'running') {
      // stop() came while the sockets were being made; it could not close what did not exist yet.
      await this.listen.close();
      throw new WorkerStateError('supervisor was stopped while starting');
    }
    this.spawnCurrent();
  }

  /**
   * Resolves once the current worker has said READY=1 (at once if it has), or rejects with
   * SF_ERR_WORKER_UNHEALTHY after `windowMs` (default: the config's health window). Restarts
   * in between are allowed unless `failOnExit`.
   */
  waitHealthy(windowMs = this.config.healthWindowSeconds * 1000, opts: { failOnExit?: boolean } = {}): Promise<void> {
    if (this.runState !== 'running') return Promise.reject(new WorkerStateError(`supervisor is ${this.runState}`));
    if (this.healthy) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
        this.off('stopping', onStop);
        if (err) reject(err);
        else resolve();
      };
      const onReady = (e: WorkerEvent): void => {
        if (e.role === 'current') done();
      };
      const onExit = (e: WorkerEvent & ExitInfo): void => {
        if (e.role === 'current' && opts.failOnExit) done(new WorkerUnhealthyError('exited', `worker ${e.pid} exited (${describeExit(e)}) before it was ready`, { details: { code: e.code, signal: e.signal } }));
      };
      const onStop = (): void => done(new WorkerStateError('supervisor stopped while waiting for a healthy worker'));
      const timer = setTimeout(() => done(new WorkerUnhealthyError('ready-timeout', `no healthy worker within ${windowMs} ms`)), windowMs);
      this.on('ready', onReady);
      this.on('exit', onExit);
      this.on('stopping', onStop);
    });
  }

  /**
   * Starts `target` on the same sockets beside the current worker; once it is ready and has
   * passed its trial, the old worker gets SIGTERM (drain) and SIGKILL past the terminate timeout.
   * A candidate that fails is stopped and the old worker keeps serving: SF_ERR_WORKER_UNHEALTHY.
   * One swap at a time: a second one is refused with SF_ERR_WORKER_BUSY.
   */
  swap(target: SwapTarget, opts: SwapOptions = {}): Promise<SwapResult> {
    if (this.runState !== 'running') return Promise.reject(new WorkerStateError(`cannot swap: supervisor is ${this.runState}`));
    if (this.swapping) return Promise.reject(new WorkerBusyError('a worker swap is already in progress'));
    let spec: WorkerSpec;
    try {
      spec = this.makeSpec(target);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = runSwap(this, spec, {
      healthWindowMs: opts.healthWindowMs ?? this.config.healthWindowSeconds * 1000,
      trialMs: opts.trialMs ?? this.config.drainSeconds * 1000,
      terminateTimeoutMs: this.config.terminateTimeoutSeconds * 1000,
    });
    this.swapping = p;
    const clear = (): void => {
      this.swapping = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** SIGHUP to the current worker: re-read its config file. False when none is running. */
  reload(): boolean {
    return this.worker?.signal('SIGHUP') ?? false;
  }

  /** SIGTERM every worker, SIGKILL past the timeout, close the sockets. Safe to call twice. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.runState === 'idle') {
      this.runState = 'stopped';
      return Promise.resolve();
    }
    this.runState = 'stopping';
    this.emit('stopping');
    clearTimeout(this.restartTimer);
    clearTimeout(this.stableTimer);
    const timeout = this.config.terminateTimeoutSeconds * 1000;
    this.stopping = (async () => {
      await Promise.all([...this.live].map((w) => w.terminate(timeout)));
      await this.swapping?.catch(() => undefined); // its refusal went to the swap's caller
      await this.listen?.close();
      this.worker = undefined;
      await this.pidFile?.record([]);
      this.runState = 'stopped';
      this.emit('stopped');
    })();
    return this.stopping;
  }

  // ---- used by swap.ts -------------------------------------------------------------------

  /** @internal Spawns a worker for `spec` in the given role. */
  spawnWorker(spec: WorkerSpec, role: WorkerRole, readyTimeoutMs: number): WorkerProcess {
    const listen = this.listen;
    if (!listen) throw new WorkerStateError('supervisor has no sockets');
    const w = new WorkerProcess(spec, {
      seam: this.seam,
      shell: this.shell,
      fds: listen.fds,
      names: listen.names,
      generation: ++this.generation,
      readyTimeoutMs,
      heartbeatTimeoutMs: this.config.heartbeatTimeoutSeconds * 1000,
      output: this.output,
    });
    this.live.add(w);
    this.roles.set(w, role);
    const ev = (): WorkerEvent => ({ pid: w.pid, generation: w.generation, role: this.roles.get(w) ?? 'retired' });
    w.on('ready', () => this.emit('ready', ev()));
    w.on('unhealthy', (reason: UnhealthyReason) => this.emit('unhealthy', { ...ev(), reason }));
    w.on('status', (text: string) => this.emit('status', { ...ev(), text }));
    w.on('warning', (error: Error) => this.emit('warning', { ...ev(), error }));
    w.once('exit', (info: ExitInfo) => {
      this.live.delete(w);
      this.emit('exit', { ...ev(), ...info });
      this.roles.delete(w);
      this.recordPids();
    });
    this.emit('spawn', { ...ev(), appDir: spec.appDir });
    this.recordPids();
    return w;
  }

  /** @internal Makes `w` the serving worker; returns the one it replaces (if any). */
  promote(w: WorkerProcess, spec: WorkerSpec): WorkerProcess | undefined {
    const old = this.worker;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (old) this.roles.set(old, 'retired');
    this.roles.set(w, 'current');
    this.spec = spec;
    this.worker = w;
    this.backoffMs = this.config.restartBackoff.initialMs;
    this.watchCurrent(w);
    if (w.state === 'ready') this.armStable(w);
    return old;
  }

  /** @internal */
  get isRunning(): boolean {
    return this.runState === 'running';
  }

  // ---- the current worker's lifecycle ----------------------------------------------------

  private spawnCurrent(): void {
    this.restartTimer = undefined;
    if (this.runState !== 'running') return;
    const w = this.spawnWorker(this.spec, 'current', this.config.healthWindowSeconds * 1000);
    this.worker = w;
    this.watchCurrent(w);
  }

  private watchCurrent(w: WorkerProcess): void {
    w.on('ready', () => {
      if (this.worker === w) this.armStable(w);
    });
    w.on('unhealthy', () => {
      if (this.worker !== w || !this.restartUnhealthy || this.runState !== 'running') return;
      void w.terminate(this.config.terminateTimeoutSeconds * 1000);
    });
    w.once('exit', () => {
      if (this.worker !== w || this.runState !== 'running') return;
      clearTimeout(this.stableTimer);
      const delayMs = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.config.restartBackoff.maxMs);
      this.emit('restart-scheduled', { generation: w.generation, delayMs });
      this.restartTimer = setTimeout(() => this.spawnCurrent(), delayMs);
    });
  }

  private armStable(w: WorkerProcess): void {
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      if (this.worker === w && w.state === 'ready') this.backoffMs = this.config.restartBackoff.initialMs;
    }, this.backoffResetMs);
  }

  private makeSpec(target: SwapTarget): WorkerSpec {
    const appDir = target.appDir ?? this.spec?.appDir;
    const command = target.command ?? this.config.command;
    if (appDir === undefined && command.some((a) => a.includes('{app}'))) {
      throw new ConfigError(`worker command ${JSON.stringify(command)} uses {app}, but no app folder was given`);
    }
    const argv = appDir === undefined ? [...command] : command.map((a) => a.split('{app}').join(appDir));
    const cwd = this.config.cwd ?? appDir;
    const env = { ...this.config.env, ...(this.config.configFile ? { SLOTFLIP_WORKER_CONFIG: this.config.configFile } : {}), ...target.env };
    return { argv, cwd, env, appDir };
  }

  private info(w: WorkerProcess): WorkerInfo {
    return { pid: w.pid, generation: w.generation, role: this.roles.get(w) ?? 'retired', state: w.state, appDir: w.spec.appDir, status: w.statusText };
  }

  private recordPids(): void {
    if (!this.pidFile || this.runState === 'stopped') return;
    const pids = [...this.live].flatMap((w) => (w.pid === undefined ? [] : [w.pid]));
    this.pidFile.record(pids).catch((error: unknown) => this.emit('warning', { pid: undefined, generation: 0, role: 'current', error }));
  }
}

export function describeExit(e: ExitInfo): string {
  if (e.error) return e.error.message;
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}
