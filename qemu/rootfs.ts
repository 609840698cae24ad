// One slot's root filesystem: busybox, Node 18 with its libraries, the device bundle, the
// sample worker, the device config and the slot init, made into an ext4 image with
// `mke2fs -d` (no loop mount, no root-only step). Broken variants feed the failure scenarios.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardProfile } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { run } from './exec.js';
import { repoRoot, type TargetPackages } from './deps.js';
import { buildInitramfs } from './initramfs.js';
import { copyModules, ensureDepmod, moduleLoadOrder } from './modules.js';
import { copyPackage, initTree, installBusybox, treeBytes, writeFile } from './staging.js';
import { guestFile, partitionOf } from './layout.js';

/** good: boots and starts the agent; panic: init exits (kernel panic, reboot); hang: init arms
 * the watchdog and hangs; unhealthy-worker: boots, but the worker never reports healthy. */
export const VARIANTS = ['good', 'panic', 'hang', 'unhealthy-worker'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface SlotImageOptions {
  profile: BoardProfile;
  packages: TargetPackages;
  version: string;
  variant?: Variant;
  /** Written to /etc/slotflip/device.json; without it the init does not start the agent. */
  deviceConfig?: unknown;
  /** Extra files: guest path -> content. */
  files?: Record<string, string | Buffer>;
  /** Arguments of `node slotflip.mjs` that start the agent. */
  agentArgs?: string[];
  /** The device bundle (dist/device/slotflip.mjs). */
  bundle: string;
  /** A worker folder copied to /opt/slotflip-worker (examples/sample-worker), if any. */
  workerDir?: string;
  /** Where to write the ext4 image. */
  out: string;
  /** Scratch folder (removed and recreated). */
  scratch: string;
}

export interface SlotImage {
  image: string;
  bytes: number;
  version: string;
  variant: Variant;
}

export const DEFAULT_AGENT_ARGS = ['agent', '--config', '/etc/slotflip/device.json'];
const WATCHDOG_PARAM: Record<string, string> = { i6300esb: 'heartbeat', softdog: 'soft_margin' };
const IDLE_WORKER = "// Never-healthy worker (QEMU suite): runs, but sends no heartbeat.\nsetInterval(() => {}, 1 << 30);\n";

function keepRuntime(rel: string): boolean {
  return !/\/gconv\/|^usr\/share\/i18n|^usr\/include|\.a$|\.h$|^usr\/share\/(doc|man)/.test(rel);
}

export async function buildSlotImage(o: SlotImageOptions): Promise<SlotImage> {
  const variant = o.variant ?? 'good';
  const p = o.profile;
  const pk = o.packages;
  if (!fs.existsSync(o.bundle)) throw new QemuError(`no device bundle at ${o.bundle} (run node scripts/build.mjs)`);
  fs.rmSync(o.scratch, { recursive: true, force: true });
  const tree = path.join(o.scratch, 'root');
  initTree(tree, ['data', 'etc/slotflip', 'usr/lib/slotflip', 'boot', 'var/tmp']);
  await installBusybox(pk.busybox.root, tree, pk.hostBusybox);
  for (const pkg of [...pk.node, ...pk.envTools]) copyPackage(pkg.root, tree, keepRuntime);

  await ensureDepmod(pk.kernel.root, pk.kernelRelease);
  const wd = p.watchdog?.module;
  const mods = moduleLoadOrder(pk.kernel.root, pk.kernelRelease, p.qemu?.nicModules ?? []);
  const wdFiles = wd ? moduleLoadOrder(pk.kernel.root, pk.kernelRelease, [wd]) : [];
  copyModules(pk.kernel.root, pk.kernelRelease, [...mods, ...wdFiles], tree);

  fs.copyFileSync(o.bundle, path.join(tree, 'usr/lib/slotflip/slotflip.mjs'));
  // Where src/board/profile.ts looks last: the agent loads its board profile by name.
  fs.cpSync(path.join(repoRoot(), 'board-profiles'), path.join(tree, 'usr/share/slotflip/board-profiles'), { recursive: true });
  writeFile(tree, 'usr/bin/slotflip', '#!/bin/sh\nexec node /usr/lib/slotflip/slotflip.mjs "$@"\n', 0o755);
  if (o.workerDir && fs.existsSync(o.workerDir)) {
    fs.cpSync(o.workerDir, path.join(tree, 'opt/slotflip-worker'), { recursive: true, verbatimSymlinks: true });
  }
  if (variant === 'unhealthy-worker') {
    // Whatever file the device config's worker command runs, it idles without heartbeats.
    const dir = path.join(tree, 'opt/slotflip-worker');
    fs.mkdirSync(dir, { recursive: true });
    const entries = fs.readdirSync(dir).filter((f) => /\.(m?js|cjs)$/.test(f));
    for (const f of entries.length ? entries : ['index.mjs']) writeFile(tree, `opt/slotflip-worker/${f}`, IDLE_WORKER);
  }
  if (o.deviceConfig !== undefined) writeFile(tree, 'etc/slotflip/device.json', JSON.stringify(o.deviceConfig, null, 2) + '\n');
  for (const [guestPath, content] of Object.entries(o.files ?? {})) writeFile(tree, guestPath.replace(/^\/+/, ''), content);

  const env = (k: string, v: string): string => `${k}='${v.replace(/'/g, "'\\''")}'\n`;
  const dataDev = p.data.device ?? partitionOf(p, 'data').device;
  writeFile(
    tree,
    'etc/slotflip/image.env',
    env('VERSION', o.version) + env('BOARD', p.name) + env('VARIANT', variant) + env('KREL', pk.kernelRelease) +
      env('MODULES', [...mods, ...wdFiles.slice(0, -1)].join(' ')) + env('WATCHDOG_KO', wdFiles.at(-1) ?? '') +
      env('WATCHDOG_ARGS', wd && WATCHDOG_PARAM[wd] && p.watchdog ? `${WATCHDOG_PARAM[wd]}=${p.watchdog.timeoutSeconds}` : '') +
      env('DATA_DEV', dataDev) + env('DEVICE_ID', deviceIdOf(o.deviceConfig) ?? p.name) +
      env('AGENT_ARGS', (o.agentArgs ?? DEFAULT_AGENT_ARGS).join(' ')),
  );
  writeFile(tree, 'etc/slotflip/version', `${o.version}\n`);
  writeFile(tree, 'etc/fw_env.config', p.env.copies.map((c) => `${c.device} 0x${c.offset.toString(16)} 0x${c.size.toString(16)}`).join('\n') + '\n');
  writeFile(tree, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  writeFile(tree, 'etc/group', 'root:x:0:\n');
  writeFile(tree, 'etc/hosts', '127.0.0.1 localhost\n10.0.2.100 broker\n');
  writeFile(tree, 'etc/profile', 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin PS1="slotflip# "\n');
  const init = variant === 'panic' ? 'init-panic.sh' : variant === 'hang' ? 'init-hang.sh' : 'rootfs-init.sh';
  fs.rmSync(path.join(tree, 'usr/sbin/init'), { force: true });
  writeFile(tree, 'usr/sbin/init', fs.readFileSync(guestFile(init)), 0o755);

  if (p.bootloader.kind === 'uboot') {
    // The slot carries its kernel and initramfs: an update replaces both with the rootfs.
    const kernelPath = p.storage?.kernelPath ?? '/boot/vmlinuz';
    const initrdPath = p.storage?.initrdPath ?? '/boot/initrd.img';
    fs.copyFileSync(path.join(pk.kernel.root, 'boot', `vmlinuz-${pk.kernelRelease}`), path.join(tree, kernelPath));
    await buildInitramfs({ profile: p, packages: pk, firstStage: false, out: path.join(tree, initrdPath), scratch: path.join(o.scratch, 'initramfs') });
  }

  const bytes = Math.ceil((treeBytes(tree) * 1.15 + 16 * 1024 * 1024) / (1 << 20)) << 20;
  const part = partitionOf(p, 'a');
  if (bytes > part.sizeMiB << 20) throw new QemuError(`slot rootfs needs ${bytes >> 20} MiB, the partition has ${part.sizeMiB} MiB`);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.rmSync(o.out, { force: true });
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', `slotflip-${o.version}`.slice(0, 16), '-E', 'root_owner=0:0', '-d', tree, o.out, `${bytes >> 10}k`]);
  fs.rmSync(o.scratch, { recursive: true, force: true });
  return { image: o.out, bytes, version: o.version, variant };
}

function deviceIdOf(config: unknown): string | undefined {
  const id = (config as { deviceId?: unknown } | undefined)?.deviceId;
  return typeof id === 'string' ? id : undefined;
}
