// Application updates: a bundle whose payloads are `app` (a tar of the worker's files) and/or
// `config` (the worker's own config file) changes the device without a reboot. The app is
// staged into the inactive app slot, `current` flips, and the worker is swapped on the same
// sockets; if the new worker does not come up healthy, `current` flips back and the old
// worker never stopped serving. A config is replaced atomically and the worker gets SIGHUP.

import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import type { Manifest } from '../bundle/manifest.js';
import { compareVersions } from '../bundle/version.js';
import { ConfigError, SlotflipError } from '../errors.js';
import { writeFileAtomic } from '../platform/fs.js';
import { DowngradeError, WrongBoardError } from '../install/policy.js';
import type { Device } from '../install/device.js';
import type { AppSlots } from './worker/app-slots.js';
import type { WorkerHost } from './ports.js';

export const APP_PAYLOAD = 'app';
export const CONFIG_PAYLOAD = 'config';

export function isAppRelease(m: Manifest): boolean {
  return !m.payloads.some((p) => p.name === 'rootfs') && m.payloads.some((p) => p.name === APP_PAYLOAD || p.name === CONFIG_PAYLOAD);
}

/** Where an app release's payloads are downloaded before they are applied. */
export function appPayloadFile(dev: Device, name: string): string {
  return path.join(dev.config.dataDir, 'release', `${name}.payload`);
}

export async function checkAppPolicy(dev: Device, slots: AppSlots, m: Manifest): Promise<void> {
  if (!m.compatible.includes(dev.config.board.name)) {
    throw new WrongBoardError(`bundle is for ${m.compatible.join(', ')}, this device is ${dev.config.board.name}`);
  }
  const current = await slots.current();
  const running = current ? (await slots.info(current))?.version : undefined;
  if (running && compareVersions(m.version, running) <= 0) {
    throw new DowngradeError(`app version ${m.version} is not newer than the running ${running}`);
  }
  if (m.payloads.some((p) => p.name === CONFIG_PAYLOAD) && !dev.config.worker?.configFile) {
    throw new ConfigError('the bundle carries a worker config, but the device config declares no worker.configFile');
  }
  for (const p of m.payloads) {
    if (p.name !== APP_PAYLOAD && p.name !== CONFIG_PAYLOAD) throw new SlotflipError('SF_ERR_NO_PAYLOAD', `app bundles carry app and config payloads, not ${p.name}`);
  }
}

/** Applies downloaded (and digest-verified) app/config payloads. */
export async function applyAppRelease(o: { dev: Device; slots: AppSlots; worker: WorkerHost | undefined; manifest: Manifest; log(l: string): void }): Promise<void> {
  const { dev, slots, worker, manifest } = o;
  if (manifest.payloads.some((p) => p.name === APP_PAYLOAD)) {
    const previous = await slots.current();
    const preInstall = manifest.preInstall ?? dev.config.worker?.preInstall;
    const size = manifest.payloads.find((p) => p.name === APP_PAYLOAD)!.size;
    // The download file may be longer than this payload (an earlier, larger one): read only ours.
    const tar = size > 0 ? createReadStream(appPayloadFile(dev, APP_PAYLOAD), { end: size - 1 }) : createReadStream('/dev/null');
    const staged = await slots.stage(tar, { version: manifest.version, ...(preInstall ? { preInstall } : {}) });
    await slots.flip(staged.slot);
    o.log(`app ${manifest.version} staged in app slot ${staged.slot}; swapping the worker`);
    if (worker) {
      try {
        await worker.swap(staged.dir);
      } catch (err) {
        if (previous) await slots.flip(previous);
        o.log(`new worker failed; app slot ${previous ?? '-'} is current again and the old worker kept serving`);
        throw err;
      }
    }
  }
  if (manifest.payloads.some((p) => p.name === CONFIG_PAYLOAD)) {
    const target = dev.config.worker!.configFile!;
    const size = manifest.payloads.find((p) => p.name === CONFIG_PAYLOAD)!.size;
    const bytes = (await dev.fs.readFile(appPayloadFile(dev, CONFIG_PAYLOAD))).subarray(0, size);
    await dev.fs.mkdir(path.dirname(target));
    await writeFileAtomic(dev.fs, target, bytes);
    const signalled = worker?.reloadWorker() ?? false;
    o.log(`worker config ${target} replaced${signalled ? '; worker signalled (SIGHUP)' : ''}`);
  }
}
