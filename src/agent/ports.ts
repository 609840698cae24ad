// What the agent needs from the outside, as small interfaces, so tests and the simulator can
// stand in for the reboot, the worker and the clock.

import type { WorkerConfig } from '../config/device.js';

export type WorkerHealth = 'stopped' | 'starting' | 'healthy' | 'unhealthy';

/** The supervised worker as the agent sees it (implemented over agent/worker/Supervisor). */
export interface WorkerHost {
  /** Starts the worker under supervision (restarts with backoff when it dies). */
  start(): Promise<void>;
  /** Resolves once the worker reported healthy; rejects with SF_ERR_WORKER_UNHEALTHY after `ms`. */
  waitHealthy(ms: number): Promise<void>;
  health(): WorkerHealth;
  /** Resolves if the current worker stays up and heart-beating for `ms`; rejects with SF_ERR_WORKER_UNHEALTHY. */
  watchStable(ms: number): Promise<void>;
  /** Zero-downtime swap to the worker in `appDir`; rejects (old worker still serving) if it fails. */
  swap(appDir: string): Promise<void>;
  /** SIGHUP to the worker: re-read its own config file. */
  reloadWorker(): boolean;
  /** Applies a new worker config (SIGHUP reload). */
  reconfigure(config: WorkerConfig): void;
  stop(): Promise<void>;
}

export interface AgentPorts {
  /** Reboots the device. On a board this runs the board's reboot command and never returns. */
  reboot(): Promise<void>;
  /** Creates the worker host, when the config has a worker; `appDir` names the live app slot. */
  worker?: (config: WorkerConfig, appDir: () => Promise<string | undefined>) => WorkerHost;
  log(line: string): void;
  now?: () => Date;
}
