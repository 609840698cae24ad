// The base-image builder behind `slotflip image build`: downloads (or reuses) the board's
// Debian packages, builds slot A's rootfs, the boot partition with the U-Boot script (or, for
// first-stage boards, the kernel and first-stage initramfs QEMU loads), the disk and its env.
// buildUpdateImage makes further slot images from the same recipe, broken variants included.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { emptyState, StateStore } from '../src/install/state.js';
import { realFs } from '../src/platform/fs.js';
import { loadProfile, type BoardProfile } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { run } from './exec.js';
import { ensureHostTools, ensureTargetPackages, repoRoot, workDir, type TargetPackages } from './deps.js';
import { writeBootScript } from './bootscript.js';
import { createDisk, initEnv, writeFwEnvConfig, writePartition } from './disk.js';
import { buildInitramfs } from './initramfs.js';
import { writeFirmwareEnvFlash } from './firmware-env.js';
import { partitionOf } from './layout.js';
import { buildSlotImage, type SlotImage, type Variant } from './rootfs.js';

export type Profile = BoardProfile & { file: string };

export interface ImageRecipe {
  /** Board profile name or path. */
  board: string | Profile;
  version?: string;
  variant?: Variant;
  deviceConfig?: unknown;
  files?: Record<string, string | Buffer>;
  agentArgs?: string[];
  /** Defaults: dist/device/slotflip.mjs and examples/sample-worker of this repository. */
  bundle?: string;
  workerDir?: string;
  log?: (line: string) => void;
}

export interface BaseImage {
  profile: Profile;
  /** The whole-disk image QEMU boots. */
  disk: string;
  /** fw_env.config for fw_printenv/fw_setenv -c on the host, pointing at `disk`. */
  fwEnvConfig: string;
  slotA: SlotImage;
  /** First-stage boards: the kernel and initramfs QEMU loads with -kernel/-initrd. */
  kernel?: string;
  initrd?: string;
  /** U-Boot's own env (read-only pflash), when the board has `qemu.firmwareEnv`. */
  flash?: string;
  kernelRelease: string;
  timings: { packagesSeconds: number; buildSeconds: number };
}

export function resolveProfile(board: string | Profile): Profile {
  return typeof board === 'string' ? loadProfile(board) : board;
}

export async function targetPackages(p: BoardProfile, log: (s: string) => void = () => {}): Promise<TargetPackages> {
  if (!p.kernel) throw new QemuError(`board ${p.name} names no kernel package`);
  await ensureHostTools(log);
  return ensureTargetPackages(p.arch, p.kernel.package, log);
}

function recipeDefaults(r: ImageRecipe): { bundle: string; workerDir: string } {
  return {
    bundle: r.bundle ?? path.join(repoRoot(), 'dist', 'device', 'slotflip.mjs'),
    workerDir: r.workerDir ?? path.join(repoRoot(), 'examples', 'sample-worker'),
  };
}

/** One slot image (ext4) of a version and variant: what an update bundle carries. */
export async function buildUpdateImage(r: ImageRecipe & { out: string }): Promise<SlotImage> {
  const p = resolveProfile(r.board);
  const pk = await targetPackages(p, r.log);
  const d = recipeDefaults(r);
  const scratch = path.join(workDir(), 'scratch', `${p.name}-${process.pid}-${Date.now()}`);
  return buildSlotImage({
    profile: p, packages: pk, version: r.version ?? '1.0.0', variant: r.variant, deviceConfig: r.deviceConfig,
    files: r.files, agentArgs: r.agentArgs, bundle: d.bundle, workerDir: d.workerDir, out: r.out, scratch,
  });
}

/** The full disk: boot partition, slot A (the recipe), empty slot B, empty data, fresh env. */
export async function buildBaseImage(r: ImageRecipe & { outDir: string }): Promise<BaseImage> {
  const log = r.log ?? (() => {});
  const p = resolveProfile(r.board);
  const t0 = Date.now();
  const pk = await targetPackages(p, log);
  const t1 = Date.now();
  const out = path.resolve(r.outDir);
  fs.mkdirSync(out, { recursive: true });
  const scratch = path.join(workDir(), 'scratch', `${p.name}-${process.pid}-${Date.now()}`);
  const slotFile = path.join(out, `slot-${r.version ?? '1.0.0'}.ext4`);
  log(`building ${p.name} slot rootfs ${r.version ?? '1.0.0'}`);
  const slotA = await buildUpdateImage({ ...r, board: p, out: slotFile });

  const bootTree = path.join(scratch, 'boot');
  fs.mkdirSync(bootTree, { recursive: true });
  let kernel: string | undefined;
  let initrd: string | undefined;
  if (p.bootloader.kind === 'uboot') {
    await writeBootScript(p, p.file, bootTree);
  } else {
    kernel = path.join(out, 'vmlinuz');
    initrd = path.join(out, 'initrd-firststage.img');
    fs.copyFileSync(path.join(pk.kernel.root, 'boot', `vmlinuz-${pk.kernelRelease}`), kernel);
    await buildInitramfs({ profile: p, packages: pk, firstStage: true, out: initrd, scratch: path.join(scratch, 'initramfs') });
    // The boot partition keeps a copy, so a disk image alone describes the board.
    fs.copyFileSync(kernel, path.join(bootTree, 'vmlinuz'));
    fs.copyFileSync(initrd, path.join(bootTree, 'initrd-firststage.img'));
  }
  const bootImg = path.join(scratch, 'boot.ext4');
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'boot', '-E', 'root_owner=0:0', '-d', bootTree, bootImg, `${partitionOf(p, 'boot').sizeMiB}M`]);
  const dataImg = path.join(scratch, 'data.ext4');
  // The data partition starts out knowing what slot A holds, as a flashed device should: the
  // agent can name the base version and an operator can roll back to it after an update.
  const dataTree = path.join(scratch, 'data');
  const recorded = await recordBaseSlot(dataTree, r.deviceConfig, slotA.image, r.version ?? '1.0.0');
  if (recorded) log(`data partition: ${recorded} records slot a`);
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'data', ...(recorded ? ['-d', dataTree] : []), dataImg, `${partitionOf(p, 'data').sizeMiB}M`]);

  const disk = path.join(out, 'disk.img');
  await createDisk(p, disk);
  await writePartition(p, disk, 'boot', bootImg);
  await writePartition(p, disk, 'a', slotA.image);
  await writePartition(p, disk, 'data', dataImg);
  await initEnv(p, disk, { [p.bootloader.slotVariable]: 'a', upgrade_available: '0', bootcount: '0', bootlimit: String(p.bootloader.bootlimit) }, scratch);
  const fwEnvConfig = writeFwEnvConfig(p, disk);
  const flash = await writeFirmwareEnvFlash(p, out);
  fs.rmSync(scratch, { recursive: true, force: true });
  const t2 = Date.now();
  const result: BaseImage = {
    profile: p, disk, fwEnvConfig, slotA, kernelRelease: pk.kernelRelease,
    timings: { packagesSeconds: (t1 - t0) / 1000, buildSeconds: (t2 - t1) / 1000 },
  };
  if (kernel) result.kernel = kernel;
  if (initrd) result.initrd = initrd;
  if (flash) result.flash = flash;
  fs.writeFileSync(path.join(out, 'image.json'), JSON.stringify({ ...result, profile: p.name }, null, 2) + '\n');
  log(`built ${disk} in ${result.timings.buildSeconds.toFixed(1)} s`);
  return result;
}

/** Where the guest mounts the data partition (qemu/guest/rootfs-init.sh). */
const DATA_MOUNT = '/data';

/**
 * Writes DATA/state.json under `tree` (the data partition's contents) recording `image` as
 * slot A's committed base release, when the device config keeps its data directory on the data
 * partition. Returns the file's path inside the partition, or undefined.
 */
export async function recordBaseSlot(tree: string, deviceConfig: unknown, image: string, version: string): Promise<string | undefined> {
  const dataDir = (deviceConfig as { dataDir?: unknown } | undefined)?.dataDir;
  if (typeof dataDir !== 'string' || (dataDir !== DATA_MOUNT && !dataDir.startsWith(`${DATA_MOUNT}/`))) return undefined;
  const inside = path.relative(DATA_MOUNT, dataDir);
  const hash = createHash('sha256');
  for await (const piece of fs.createReadStream(image, { highWaterMark: 1 << 20 })) hash.update(piece as Buffer);
  const state = emptyState();
  state.slots.a = { version, securityVersion: 0, sha256: hash.digest('hex'), size: fs.statSync(image).size, releaseId: 'base-image', installedAt: new Date().toISOString() };
  state.committed = 'a';
  const store = new StateStore(realFs, path.join(tree, inside));
  await store.save(state);
  return path.join('/', path.relative(tree, store.file));
}
