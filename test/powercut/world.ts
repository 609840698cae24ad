// The fixed things every power-cut run shares: a signing key, the releases (a running v1 and a
// v2 bundle to install), the device layout and config, and the initial disk image (slot a holds
// v1, committed; slot b is erased; a redundant U-Boot env). Built once per process.

import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createBundle, releaseId } from '../../src/bundle/index.js';
import { generateSigningKeyPair } from '../../src/crypto/keys.js';
import { trustedKey, type TrustedKey } from '../../src/crypto/trusted.js';
import { parseProfile } from '../../src/board/profile.js';
import type { DeviceConfig } from '../../src/config/device.js';
import { initBootEnv } from '../../src/bootenv/index.js';
import { StateStore, emptyState } from '../../src/install/state.js';
import { MemoryFs } from '../support/memory-fs.js';

export const LAYOUT = {
  slotA: '/dev/slot-a',
  slotB: '/dev/slot-b',
  slotSize: 512 * 1024,
  env: '/dev/uboot-env',
  envSize: 4096,
  dataDir: '/data/slotflip',
  booted: '/run/slotflip-booted',
  bufferSize: 16 * 1024,
  chunkSize: 16 * 1024,
} as const;

export interface Release {
  version: string;
  image: Buffer;
  sha256: string;
  /** The signed bundle, as bytes (it is read from memory: reads are not cut points). */
  bundle: Buffer;
  releaseId: string;
}

export interface World {
  config: DeviceConfig;
  trusted: TrustedKey[];
  v1: Release;
  v2: Release;
  /** A third release, for installs over an armed or trial slot. */
  v3: Release;
  /** Every image a slot may hold and still count as verified. */
  verified: Release[];
  /** The disk as it is before the scenario: clone it for each run. */
  image: MemoryFs;
  /** Env copies: two makes the env redundant (the default), one a single copy. */
  envCopies: 1 | 2;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function deviceConfig(envCopies: 1 | 2): DeviceConfig {
  const copies = [0, LAYOUT.envSize].slice(0, envCopies).map((offset) => ({ device: LAYOUT.env, offset, size: LAYOUT.envSize }));
  const board = parseProfile(
    {
      name: 'powercut-rig',
      description: 'In-memory device of the power-cut sweep',
      arch: 'amd64',
      tested: 'host',
      bootloader: { kind: 'simulator', slotVariable: 'slotflip_slot', bootlimit: 3 },
      env: { copies },
      slots: { a: { device: LAYOUT.slotA, type: 'partition', size: LAYOUT.slotSize }, b: { device: LAYOUT.slotB, type: 'partition', size: LAYOUT.slotSize } },
      data: { mountpoint: '/data' },
    },
    'powercut-rig',
  );
  return {
    file: undefined,
    deviceId: 'powercut-1',
    group: undefined,
    board,
    dataDir: LAYOUT.dataDir,
    trustedKeys: [],
    revokedKeys: [],
    slots: board.slots,
    env: { backend: 'uboot', copies },
    slotVariable: board.bootloader.slotVariable,
    bootlimit: board.bootloader.bootlimit,
    bootedSlot: { file: LAYOUT.booted },
    rebootCommand: ['true'],
    broker: undefined,
    worker: undefined,
    syncEveryChunks: 4,
    bufferSize: LAYOUT.bufferSize,
    watchdog: undefined,
  };
}

async function makeRelease(version: string, image: Buffer, privateKey: ReturnType<typeof generateSigningKeyPair>['privateKey'], dir: string): Promise<Release> {
  const file = path.join(dir, `rootfs-${version}.img`);
  await fsp.writeFile(file, image);
  const parts: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  const created = await createBundle({ boards: ['powercut-rig'], version, payloads: [{ name: 'rootfs', file }], privateKey, chunkSize: LAYOUT.chunkSize }, out);
  return { version, image, sha256: sha256(image), bundle: Buffer.concat(parts), releaseId: releaseId(created.manifestBytes) };
}

async function initialImage(config: DeviceConfig, v1: Release): Promise<MemoryFs> {
  const fs = new MemoryFs();
  const slotA = Buffer.alloc(LAYOUT.slotSize);
  v1.image.copy(slotA);
  fs.preloadFile(LAYOUT.slotA, slotA);
  fs.preloadFile(LAYOUT.slotB, Buffer.alloc(LAYOUT.slotSize, 0xff)); // erased: never a bootable image
  fs.preloadFile(LAYOUT.env, Buffer.alloc(LAYOUT.envSize * 2));
  fs.preloadDir(LAYOUT.dataDir);
  await initBootEnv(config.env, { slotflip_slot: 'a', upgrade_available: '0', bootcount: '0', bootlimit: String(config.bootlimit) }, fs);
  const state = emptyState();
  state.slots.a = { version: v1.version, securityVersion: 0, sha256: v1.sha256, size: v1.image.length, releaseId: v1.releaseId, installedAt: new Date(0).toISOString() };
  state.committed = 'a';
  await new StateStore(fs, LAYOUT.dataDir).save(state);
  return fs.settle();
}

const worlds = new Map<number, Promise<World>>();

/** The shared world (memoized per env layout): two releases, a key, the initial disk image. */
export function getWorld(envCopies: 1 | 2 = 2): Promise<World> {
  let w = worlds.get(envCopies);
  if (!w) {
    w = (async () => {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-powercut-'));
      try {
        const keys = generateSigningKeyPair();
        const v1 = await makeRelease('1.0.0', randomBytes(192 * 1024 + 77), keys.privateKey, dir);
        const v2 = await makeRelease('2.0.0', randomBytes(256 * 1024), keys.privateKey, dir);
        const v3 = await makeRelease('3.0.0', randomBytes(256 * 1024 - 4096), keys.privateKey, dir);
        const config = deviceConfig(envCopies);
        return { config, trusted: [trustedKey(keys.publicKey)], v1, v2, v3, verified: [v1, v2, v3], image: await initialImage(config, v1), envCopies };
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    })();
    worlds.set(envCopies, w);
  }
  return w;
}
