// Drives the real `slotflip install` for the benches: builds the device CLI (one file, as
// devices run it) into a temp dir, makes keys, bundles and fresh simulated devices, and times
// one install in its own process with its peak RSS read at exit.

import { build } from 'esbuild';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { generateSigningKeyPair, writeKeyPair } from '../../src/crypto/keys.js';
import { createBundle } from '../../src/bundle/create.js';
import { createSimDevice, simulateBoot } from '../../src/simulator/device.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { runTimed } from './system.js';
import { MiB } from './metric.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROBE = fileURLToPath(new URL('./hwm-probe.mjs', import.meta.url));
export const SLOT_SIZE = 512 * MiB;

/** esbuild of src/cli/bin.ts as scripts/build.mjs makes dist/device/slotflip.mjs, into `dir`. */
export async function buildDeviceCli(dir: string): Promise<string> {
  const outfile = path.join(dir, 'slotflip.mjs');
  await build({
    entryPoints: [path.join(ROOT, 'src/cli/bin.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    minify: true,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __sfCreateRequire } from 'node:module'; const require = __sfCreateRequire(import.meta.url);" },
    external: ['serialport', '@serialport/*', 'aedes', 'aedes-*', 'esbuild', 'tsx'],
  });
  return outfile;
}

export interface Keys {
  privateKey: KeyObject;
  publicFile: string;
}

export async function makeKeys(dir: string): Promise<Keys> {
  const pair = generateSigningKeyPair();
  const { publicFile } = await writeKeyPair(dir, pair);
  return { privateKey: pair.privateKey, publicFile };
}

export async function makeBundle(image: string, out: string, keys: Keys, version = '2.0.0'): Promise<void> {
  const stream = createWriteStream(out);
  const done = once(stream, 'close');
  await createBundle({ boards: ['host-sim'], version, payloads: [{ name: 'rootfs', file: image }], privateKey: keys.privateKey }, stream);
  await done;
}

/** A fresh host-sim device (file slots of 512 MiB by default, env file, state) under a new dir in `parent`. */
export async function freshDevice(parent: string, keys: Keys, slotSize = SLOT_SIZE): Promise<{ dir: string; config: string }> {
  const dir = mkdtempSync(path.join(parent, 'dev-'));
  const config = await createSimDevice({ dir, deviceId: 'bench', trustedKeys: [keys.publicFile], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize, worker: false });
  await simulateBoot(loadDeviceConfig(config)); // powered on: running slot a
  return { dir, config };
}

export interface InstallRun {
  seconds: number;
  /** Peak RSS of the install process, MiB (VmHWM at exit). */
  hwmMiB: number;
  stdout: string;
}

/** Runs `node [--import probe] CLI args...`, returning its wall time and VmHWM. */
export async function runNode(args: string[], hwmFile: string): Promise<InstallRun> {
  rmSync(hwmFile, { force: true });
  const r = await runTimed(process.execPath, ['--import', PROBE, ...args], { env: { ...process.env, SLOTFLIP_BOARD_PROFILES: path.join(ROOT, 'board-profiles'), BENCH_HWM_FILE: hwmFile } });
  const kb = Number(readFileSync(hwmFile, 'utf8'));
  if (!kb) throw new Error(`no VmHWM from ${args.join(' ')}: ${r.stderr}`);
  return { seconds: r.seconds, hwmMiB: kb / 1024, stdout: r.stdout };
}

/** One `slotflip install BUNDLE --config DEVICE.json --json` in its own process. */
export async function installOnce(cli: string, bundle: string, config: string, hwmFile: string): Promise<InstallRun> {
  const run = await runNode([cli, 'install', bundle, '--config', config, '--json'], hwmFile);
  // The bench measures the way a bundle file is installed: straight from its offsets (D8).
  const read = (JSON.parse(run.stdout) as { read?: string }).read;
  if (read !== 'direct') throw new Error(`slotflip install read the rootfs ${read ?? '(not said)'}, not direct: the bench would measure the fallback`);
  return run;
}
