// The agent's worker, over the Supervisor of agent/worker/: one supervisor per run (a stopped
// supervisor is replaced on the next start), pids kept in the data directory so a restarted
// agent stops its predecessor's workers, and a trial that counts a crash as unhealthy.

import * as path from 'node:path';
import type { WorkerConfig } from '../config/device.js';
import type { FileSystem } from '../platform/fs.js';
import { Supervisor } from './worker/supervisor.js';
import { WorkerUnhealthyError } from './worker/errors.js';
import type { WorkerHealth, WorkerHost } from './ports.js';

export function supervisedWorker(
  config: WorkerConfig,
  opts: { dataDir: string; fs: FileSystem; appDir?: () => Promise<string | undefined>; log: (l: string) => void },
): WorkerHost {
  let current = config;
  let sup: Supervisor | undefined;
  let unhealthy = false;
  const make = async (): Promise<Supervisor> => {
    const appDir = await opts.appDir?.();
    const s = new Supervisor({ config: current, fs: opts.fs, pidFile: path.join(opts.dataDir, 'worker.pids'), ...(appDir ? { appDir } : {}) });
    s.on('exit', (e: { pid?: number; code?: number | null; signal?: string | null }) => opts.log(`worker ${e.pid ?? '?'} exited (code ${e.code ?? '-'}, signal ${e.signal ?? '-'})`));
    s.on('unhealthy', () => {
      unhealthy = true;
    });
    s.on('ready', () => {
      unhealthy = false;
    });
    return s;
  };
  return {
    async start() {
      if (sup) return;
      sup = await make();
      await sup.start();
    },
    async waitHealthy(ms) {
      if (!sup) throw new Error('worker not started');
      await sup.waitHealthy(ms, { failOnExit: true });
    },
    watchStable(ms) {
      const s = sup;
      if (!s) return Promise.reject(new WorkerUnhealthyError('stopped', 'worker not running'));
      return new Promise((resolve, reject) => {
        const done = (err?: Error): void => {
          clearTimeout(timer);
          s.off('exit', onExit);
          s.off('unhealthy', onUnhealthy);
          if (err) reject(err);
          else resolve();
        };
        const onExit = (e: { role?: string; pid?: number }): void => {
          if (e.role === 'current') done(new WorkerUnhealthyError('exited', `worker ${e.pid ?? '?'} exited during the trial`));
        };
        const onUnhealthy = (e: { role?: string; reason?: string }): void => {
          if (e.role === 'current') done(new WorkerUnhealthyError('heartbeat-timeout', `worker unhealthy during the trial (${e.reason ?? '?'})`));
        };
        const timer = setTimeout(() => done(), ms);
        s.on('exit', onExit);
        s.on('unhealthy', onUnhealthy);
      });
    },
    health(): WorkerHealth {
      if (!sup) return 'stopped';
      if (sup.healthy) return 'healthy';
      return unhealthy ? 'unhealthy' : 'starting';
    },
    async swap(appDir) {
      if (!sup) throw new WorkerUnhealthyError('stopped', 'worker not running');
      await sup.swap({ appDir });
    },
    reloadWorker() {
      return sup?.reload() ?? false;
    },
    reconfigure(config) {
      // Sockets and command belong to the running supervisor; new settings apply on the next
      // start. The worker itself re-reads its own config file on SIGHUP.
      current = config;
      sup?.reload();
    },
    async stop() {
      const s = sup;
      sup = undefined;
      await s?.stop();
    },
  };
}
