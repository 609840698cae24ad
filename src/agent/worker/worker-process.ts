// One worker process: spawned on the watcher's sockets with the systemd fd convention, its
// heartbeat channel read, its health judged (ready within a window, then a heartbeat at least
// every timeout), and stopped with SIGTERM then SIGKILL. The Supervisor decides what to do next.

import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { readNotify, type NotifyMessage } from './notify.js';
import type { ProcessSeam } from './process-seam.js';
import type { UnhealthyReason } from './errors.js';

export interface WorkerSpec {
  /** argv with `{app}` already replaced. */
  argv: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  /** The app slot folder this worker runs from, when it runs from one. */
  appDir: string | undefined;
}

export interface WorkerLaunch {
  seam: ProcessSeam;
  shell: string;
  /** Listening socket fds and their names, passed as fds 3.. in this order. */
  fds: number[];
  names: string[];
  generation: number;
  readyTimeoutMs: number;
  heartbeatTimeoutMs: number;
  output: 'inherit' | 'ignore';
}

export type WorkerState = 'starting' | 'ready' | 'unhealthy' | 'stopping' | 'exited';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Variables of the agent's own environment that must not leak into a worker's. */
const NOT_INHERITED = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'SLOTFLIP_NOTIFY_FD'];

/**
 * LISTEN_PID must be the worker's own pid, which nobody knows before fork. The shell learns its
 * pid as $$ and exec keeps it, so the program that reads LISTEN_PID sees getpid() == LISTEN_PID,
 * exactly what sd_listen_fds() checks.
 */
const EXEC_SHIM = 'LISTEN_PID=$$ WATCHDOG_PID=$$; export LISTEN_PID WATCHDOG_PID; exec "$@"';
const EXEC_SHIM_NO_SOCKETS = 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"';

export function workerEnv(spec: WorkerSpec, launch: Pick<WorkerLaunch, 'fds' | 'names' | 'generation' | 'heartbeatTimeoutMs'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !NOT_INHERITED.includes(k)) env[k] = v;
  Object.assign(env, spec.env);
  for (const k of NOT_INHERITED) delete env[k];
  if (launch.fds.length) {
    env['LISTEN_FDS'] = String(launch.fds.length);
    env['LISTEN_FDNAMES'] = launch.names.join(':');
  }
  env['SLOTFLIP_ROLE'] = 'worker';
  env['SLOTFLIP_NOTIFY_FD'] = String(3 + launch.fds.length);
  env['SLOTFLIP_WORKER_GENERATION'] = String(launch.generation);
  env['WATCHDOG_USEC'] = String(Math.round(launch.heartbeatTimeoutMs * 1000));
  if (spec.appDir) env['SLOTFLIP_APP_DIR'] = spec.appDir;
  return env;
}

export class WorkerProcess extends EventEmitter {
  readonly pid: number | undefined;
  readonly generation: number;
  readonly spec: WorkerSpec;
  state: WorkerState = 'starting';
  statusText = '';
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readyTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly child: ChildProcess;
  private readonly seam: ProcessSeam;
  private readonly heartbeatTimeoutMs: number;

  constructor(spec: WorkerSpec, launch: WorkerLaunch) {
    super();
    this.spec = spec;
    this.generation = launch.generation;
    this.seam = launch.seam;
    this.heartbeatTimeoutMs = launch.heartbeatTimeoutMs;
    let resolveExit!: (e: ExitInfo) => void;
    this.exited = new Promise((r) => (resolveExit = r));
    const notifyIndex = 3 + launch.fds.length;
    this.child = launch.seam.spawn({
      file: launch.shell,
      args: ['-c', launch.fds.length ? EXEC_SHIM : EXEC_SHIM_NO_SOCKETS, 'slotflip-worker', ...spec.argv],
      env: workerEnv(spec, launch),
      cwd: spec.cwd,
      stdio: ['ignore', launch.output, launch.output, ...launch.fds, 'pipe'],
      detached: true,
    });
    this.pid = this.child.pid;
    const onExit = (info: ExitInfo): void => {
      if (this.exitInfo) return;
      this.exitInfo = info;
      this.state = 'exited';
      this.clearTimers();
      // Whatever the worker left in its process group goes with it: no child left behind.
      if (this.pid !== undefined) this.seam.kill(-this.pid, 'SIGKILL');
      resolveExit(info);
      this.emit('exit', info);
    };
    this.child.once('exit', (code, signal) => onExit({ code, signal }));
    this.child.once('error', (error) => {
      // 'error' without a pid: the shell itself could not be spawned, so there is no 'exit'.
      if (this.child.pid === undefined) onExit({ code: null, signal: null, error });
      else this.emit('warning', error);
    });
    const channel = this.child.stdio[notifyIndex] as Readable | null;
    if (channel) {
      readNotify(
        channel,
        (m) => this.onNotify(m),
        (err) => {
          if (err) this.emit('warning', err);
        },
      );
    }
    this.readyTimer = setTimeout(() => this.markUnhealthy('ready-timeout'), launch.readyTimeoutMs);
  }

  get exitStatus(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** Sends a signal to the worker itself (SIGHUP: reload its config). */
  signal(sig: NodeJS.Signals): boolean {
    if (this.exitInfo || this.pid === undefined) return false;
    return this.seam.kill(this.pid, sig);
  }

  /**
   * SIGTERM (stop accepting, drain), SIGKILL to the whole group after `timeoutMs`.
   * Resolves once the worker has exited; calling it again only waits.
   */
  terminate(timeoutMs: number): Promise<ExitInfo> {
    if (!this.exitInfo && this.state !== 'stopping' && this.pid !== undefined) {
      this.state = 'stopping';
      this.clearHealthTimers();
      this.seam.kill(this.pid, 'SIGTERM');
      this.killTimer = setTimeout(() => this.kill(), timeoutMs);
    }
    return this.exited;
  }

  kill(): void {
    if (this.exitInfo || this.pid === undefined) return;
    this.seam.kill(-this.pid, 'SIGKILL');
  }

  private onNotify(m: NotifyMessage): void {
    if (this.exitInfo) return;
    switch (m.key) {
      case 'READY':
        if (m.value !== '1') return;
        if (this.state === 'starting') {
          this.state = 'ready';
          clearTimeout(this.readyTimer);
          this.emit('ready');
        }
        this.armHeartbeat();
        return;
      case 'WATCHDOG':
        if (m.value === 'trigger') this.markUnhealthy('heartbeat-timeout');
        else if (m.value === '1' && this.state === 'ready') this.armHeartbeat();
        return;
      case 'STATUS':
        this.statusText = m.value;
        this.emit('status', m.value);
        return;
      case 'STOPPING':
      case 'RELOADING':
        if (m.value === '1') this.emit(m.key.toLowerCase());
        return;
      default:
        // Unknown assignments (MAINPID, ERRNO, ...) are allowed and carry nothing for us.
        return;
    }
  }

  private armHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => this.markUnhealthy('heartbeat-timeout'), this.heartbeatTimeoutMs);
  }

  private markUnhealthy(reason: UnhealthyReason): void {
    if (this.state !== 'starting' && this.state !== 'ready') return;
    this.state = 'unhealthy';
    this.clearHealthTimers();
    this.emit('unhealthy', reason);
  }

  private clearHealthTimers(): void {
    clearTimeout(this.readyTimer);
    clearTimeout(this.heartbeatTimer);
  }

  private clearTimers(): void {
    this.clearHealthTimers();
    clearTimeout(this.killTimer);
  }
}
