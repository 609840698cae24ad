// The boot loop of a simulated device: power on (bootloader rules), run the agent until it
// asks for a reboot, and again, until stopped. The booted slot's sim header decides how its
// worker behaves, so a bad update is bad because of what it contains.

import { loadDeviceConfig } from '../config/device.js';
import { realFs } from '../platform/fs.js';
import { Agent } from '../agent/agent.js';
import { supervisedWorker } from '../agent/worker-host.js';
import { simulateBoot, type SimBoot } from './device.js';

export interface SimRunOptions {
  log(line: string): void;
  signal: AbortSignal;
  onBoot?(boot: SimBoot, agent: Agent): void;
}

export async function runSimDevice(file: string, o: SimRunOptions): Promise<void> {
  const aborted = new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve(), { once: true }));
  while (!o.signal.aborted) {
    const config = loadDeviceConfig(file);
    const boot = await simulateBoot(config, realFs, o.log);
    o.log(`power on: booted slot ${boot.slot}, running ${boot.rootfs?.version ?? '?'}${boot.fallback ? ' (bootloader fallback)' : ''}`);
    const worker = config.worker && { ...config.worker, env: { ...config.worker.env, ...boot.rootfs?.worker } };
    let requestReboot!: () => void;
    const rebooting = new Promise<void>((resolve) => (requestReboot = resolve));
    const agent = new Agent(
      { ...config, worker },
      {
        reboot: async () => requestReboot(),
        worker: (w, appDir) => supervisedWorker(w, { dataDir: config.dataDir, fs: realFs, appDir, log: o.log }),
        log: o.log,
      },
    );
    o.onBoot?.(boot, agent);
    await agent.start();
    await Promise.race([rebooting, aborted]);
    await agent.stop();
    if (!o.signal.aborted) o.log('reboot');
  }
}
