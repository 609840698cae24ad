// Test fleet: keys, simulated devices (in process or as child processes that can be killed
// like a device losing power), bundles of sim rootfs images, and readers of device state.

import * as os from 'node:os';
import * as path from 'node:path';
import * as fsp from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { generateSigningKeyPair, loadPrivateKey, writeKeyPair } from '../../src/crypto/keys.js';
import { createBundle } from '../../src/bundle/create.js';
import { createSimDevice } from '../../src/simulator/device.js';
import { runSimDevice } from '../../src/simulator/run.js';
import { simRootfsImage, type SimRootfs } from '../../src/simulator/rootfs.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { realFs } from '../../src/platform/fs.js';
import { openBootEnv } from '../../src/bootenv/index.js';
import { StateStore } from '../../src/install/state.js';
import { JournalStore } from '../../src/agent/journal.js';
import { allStatusFilter, deviceTopics } from '../../src/transfer/topics.js';
import { parseStatus, type StatusReport } from '../../src/agent/status.js';
import type { Agent } from '../../src/agent/agent.js';

export interface Fleet {
  dir: string;
  publicKey: string;
  privateKey: string;
  url: string;
  devices: Map<string, string>; // id → config path
  stop(): Promise<void>;
}

export async function makeFleet(url: string, ids: string[], opts: { group?: string; healthWindowSeconds?: number; slotSize?: number } = {}): Promise<Fleet> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-fleet-'));
  const keys = await writeKeyPair(path.join(dir, 'keys'), generateSigningKeyPair());
  const devices = new Map<string, string>();
  for (const id of ids) {
    const file = await createSimDevice({
      dir: path.join(dir, id),
      deviceId: id,
      ...(opts.group ? { group: opts.group } : {}),
      brokerUrl: url,
      trustedKeys: [keys.publicFile],
      base: { version: '1.0.0', kernel: 'ok', worker: {} },
      slotSize: opts.slotSize ?? 64 * 1024 * 1024,
      healthWindowSeconds: opts.healthWindowSeconds ?? 6,
    });
    devices.set(id, file);
  }
  // Device ids repeat across tests on one broker: forget what earlier devices left retained.
  const c = await mqtt.connectAsync(url, { clientId: `sf-test-clear-${process.pid}-${Math.random().toString(36).slice(2)}` });
  for (const id of ids) await c.publishAsync(deviceTopics(undefined, id).status, Buffer.alloc(0), { qos: 1, retain: true });
  await c.endAsync();
  return { dir, publicKey: keys.publicFile, privateKey: keys.privateFile, url, devices, stop: async () => fsp.rm(dir, { recursive: true, force: true }) };
}

/** Runs devices in this process; returns a stopper. Logs go to an array for failure messages. */
export function runInProcess(fleet: Fleet, ids = [...fleet.devices.keys()], onAgent?: (id: string, a: Agent) => void): { stop(): Promise<void>; logs: string[] } {
  const abort = new AbortController();
  const logs: string[] = [];
  const runs = ids.map((id) =>
    runSimDevice(fleet.devices.get(id)!, {
      signal: abort.signal,
      log: (l) => logs.push(`${id} ${l}`),
      onBoot: (_b, a) => onAgent?.(id, a),
    }),
  );
  return {
    logs,
    async stop() {
      abort.abort();
      await Promise.all(runs);
    },
  };
}

/** A device in its own process (`slotflip sim-device`), to be killed with SIGKILL. */
export function spawnDevice(file: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'sim-device', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Keep the device's log beside its config, for failure messages.
  const log = createWriteStream(path.join(path.dirname(file), 'device.log'), { flags: 'a' });
  child.stderr!.pipe(log);
  return child;
}

export async function deviceLog(file: string): Promise<string> {
  return fsp.readFile(path.join(path.dirname(file), 'device.log'), 'utf8').catch(() => '');
}

export async function stopChild(c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill(signal);
  await once(c, 'exit');
}

export async function makeBundle(fleet: Fleet, spec: SimRootfs, opts: { size?: number; board?: string; securityVersion?: number; privateKey?: string } = {}): Promise<string> {
  const image = path.join(fleet.dir, `rootfs-${spec.version}-${Math.random().toString(36).slice(2)}.img`);
  await fsp.writeFile(image, simRootfsImage(spec, opts.size ?? 2 * 1024 * 1024));
  const bundle = image.replace(/\.img$/, '.sfb');
  await createBundle(
    {
      boards: [opts.board ?? 'host-sim'],
      version: spec.version,
      ...(opts.securityVersion !== undefined ? { securityVersion: opts.securityVersion } : {}),
      payloads: [{ name: 'rootfs', file: image }],
      privateKey: await loadPrivateKey(opts.privateKey ?? fleet.privateKey),
    },
    createWriteStream(bundle),
  );
  return bundle;
}

export async function deviceEnv(fleet: Fleet, id: string): Promise<Map<string, string>> {
  return openBootEnv(loadDeviceConfig(fleet.devices.get(id)!).env).read();
}

export async function deviceState(fleet: Fleet, id: string) {
  const c = loadDeviceConfig(fleet.devices.get(id)!);
  return { state: await new StateStore(realFs, c.dataDir).load(), journal: await new JournalStore(realFs, c.dataDir).load() };
}

/** Watches every device's retained status; `waitFor` resolves when a predicate holds. */
export async function watchStatus(url: string): Promise<{ latest: Map<string, StatusReport>; waitFor(pred: (r: Map<string, StatusReport>) => boolean, ms: number, what: string): Promise<void>; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { clientId: `sf-test-watch-${process.pid}-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 200 });
  const latest = new Map<string, StatusReport>();
  const waiters = new Set<() => void>();
  client.on('message', (_t, payload) => {
    const r = parseStatus(payload);
    if (r) latest.set(r.deviceId, r);
    for (const w of waiters) w();
  });
  client.on('connect', () => void client.subscribe(allStatusFilter(), { qos: 1 }));
  await client.subscribeAsync(allStatusFilter(), { qos: 1 });
  return {
    latest,
    waitFor(pred, ms, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pred(latest)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; last status: ${JSON.stringify([...latest.values()].map((r) => [r.deviceId, r.state, r.version, r.lastResult?.result, r.lastError?.code, r.progress]))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    close: () => client.endAsync(true),
  };
}
