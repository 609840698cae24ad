// A device simulated on the host, for the demo and the host tests: file-backed slots, a
// U-Boot-format env file (redundant copies), and a boot loop. Each "boot" applies the
// bootloader's boot-count rules to the env (decideBoot), "starts the kernel" of the chosen
// slot (its sim header may say it panics: then the bootloader tries again), and runs the
// agent until it asks for a reboot.

import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { realFs, writeFileAtomic, type FileSystem } from '../platform/fs.js';
import { initBootEnv, openBootEnv } from '../bootenv/index.js';
import { loadDeviceConfig, type DeviceConfig, type DeviceConfigInput } from '../config/device.js';
import { StateStore, emptyState } from '../install/state.js';
import { decideBoot } from './boot-rules.js';
import { readSimHeader, simRootfsImage, type SimRootfs } from './rootfs.js';
import type { SlotName } from '../slots/model.js';
import { Readable } from 'node:stream';
import { AppSlots } from '../agent/worker/app-slots.js';

export const SIM_BOOTLIMIT = 3;
const MAX_BOOT_ATTEMPTS = 10;

export interface SimDeviceSpec {
  dir: string;
  deviceId: string;
  group?: string;
  brokerUrl?: string;
  topicPrefix?: string;
  trustedKeys: string[];
  base: SimRootfs;
  slotSize: number;
  /** Seconds the worker has to become healthy in a trial, and to stay up after that. */
  healthWindowSeconds?: number;
  trialSeconds?: number;
  /** A worker per device (the sample worker by default); false: none. */
  worker?: false | { command: string[] };
  /** Run the worker from app slots (DATA/app/current), starting with the sample app of this version. */
  app?: { version: string };
  /** Fixed TCP port of the worker's socket (default: any free port). */
  httpPort?: number;
}

/** The sample worker shipped in examples/, found from the package root. */
export function sampleWorkerPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'examples', 'sample-worker', 'server.mjs');
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new Error('examples/sample-worker/server.mjs not found beside the slotflip package');
}

/** Lays out a fresh device in `spec.dir` running `spec.base` from slot a; returns its config path. */
export async function createSimDevice(spec: SimDeviceSpec, fs: FileSystem = realFs): Promise<string> {
  const dir = path.resolve(spec.dir);
  await fs.mkdir(path.join(dir, 'data'));
  const image = simRootfsImage(spec.base, Math.min(spec.slotSize, 1024 * 1024));
  await writeFileAtomic(fs, path.join(dir, 'slot-a.img'), image);
  await writeFileAtomic(fs, path.join(dir, 'slot-b.img'), Buffer.alloc(0));
  const config: DeviceConfigInput = {
    deviceId: spec.deviceId,
    board: 'host-sim',
    dataDir: 'data',
    trustedKeys: spec.trustedKeys.map((k) => path.resolve(k)),
    slots: { a: { device: 'slot-a.img', type: 'file', size: spec.slotSize }, b: { device: 'slot-b.img', type: 'file', size: spec.slotSize } },
    bootedSlot: { file: 'booted-slot' },
    syncEveryChunks: 16,
  };
  if (spec.group) config.group = spec.group;
  if (spec.brokerUrl) config.broker = { url: spec.brokerUrl, ...(spec.topicPrefix ? { topicPrefix: spec.topicPrefix } : {}) };
  if (spec.worker !== false) {
    config.worker = {
      command: spec.worker?.command ?? (spec.app ? [process.execPath, '{app}/server.mjs'] : [process.execPath, sampleWorkerPath()]),
      sockets: [{ name: 'http', tcp: `127.0.0.1:${spec.httpPort ?? 0}` }],
      healthWindowSeconds: spec.healthWindowSeconds ?? 10,
      trialSeconds: spec.trialSeconds ?? 1,
      heartbeatTimeoutSeconds: 5,
      terminateTimeoutSeconds: 3,
      drainSeconds: 0,
    };
  }
  const file = path.join(dir, 'device.json');
  await writeFileAtomic(fs, file, JSON.stringify(config, null, 2) + '\n');
  const dev = loadDeviceConfig(file);
  await initBootEnv(dev.env, { [dev.slotVariable]: 'a', upgrade_available: '0', bootcount: '0', bootlimit: String(SIM_BOOTLIMIT) }, fs);
  const state = emptyState();
  state.slots.a = {
    version: spec.base.version,
    securityVersion: 0,
    sha256: createHash('sha256').update(image).digest('hex'),
    size: image.length,
    releaseId: 'base-image',
    installedAt: new Date().toISOString(),
  };
  state.committed = 'a';
  await new StateStore(fs, dev.dataDir).save(state);
  if (spec.app) {
    const { sampleAppTar } = await import('./app.js');
    await new AppSlots({ dataDir: dev.dataDir, fs }).install(Readable.from([await sampleAppTar(spec.app.version)]), { version: spec.app.version });
  }
  return file;
}

export interface SimBoot {
  slot: SlotName;
  /** Boot attempts whose kernel never came up before this one. */
  failedAttempts: number;
  fallback: boolean;
  rootfs: SimRootfs | undefined;
}

/** One power-on: bootloader rules until a kernel comes up; records the booted slot. */
export async function simulateBoot(config: DeviceConfig, fs: FileSystem = realFs, log: (l: string) => void = () => undefined): Promise<SimBoot> {
  const env = openBootEnv(config.env, fs);
  let fallback = false;
  for (let attempt = 0; attempt < MAX_BOOT_ATTEMPTS; attempt++) {
    const decision = decideBoot(await env.read(), config.slotVariable, config.bootlimit);
    if (Object.keys(decision.changes).length) await env.update(decision.changes);
    fallback ||= decision.fallback;
    if (decision.fallback) log(`bootloader: boot limit passed, falling back to slot ${decision.slot}`);
    const rootfs = await readSimHeader(fs, config.slots[decision.slot].device);
    if (!rootfs || rootfs.kernel === 'panic') {
      log(`bootloader: slot ${decision.slot} ${rootfs ? 'kernel panic' : 'holds no bootable image'}; the watchdog resets the board`);
      continue;
    }
    if (!('file' in config.bootedSlot)) throw new Error('simulated devices report the booted slot through a file');
    await writeFileAtomic(fs, config.bootedSlot.file, decision.slot + '\n');
    return { slot: decision.slot, failedAttempts: attempt, fallback, rootfs };
  }
  throw new Error(`no slot booted in ${MAX_BOOT_ATTEMPTS} attempts`);
}
