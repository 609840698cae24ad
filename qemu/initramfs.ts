// The initramfs: busybox, the disk and ext4 modules, and /init (qemu/guest/initramfs-init.sh).
// In a slot it only picks the root named by slotflip.slot=; as a first stage (boards without
// a usable U-Boot) it also counts boots in the env with fw_printenv/fw_setenv.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardProfile } from '../src/board/profile.js';
import { run } from './exec.js';
import type { TargetPackages } from './deps.js';
import { guestFile, partitionOf, storageOf } from './layout.js';
import { copyModules, ensureDepmod, moduleLoadOrder } from './modules.js';
import { copyPackage, initTree, installBusybox, writeFile } from './staging.js';

export interface InitramfsOptions {
  profile: BoardProfile;
  packages: TargetPackages;
  firstStage: boolean;
  out: string;
  scratch: string;
}

/** Only the loader, libc and what fw_printenv links: the first stage stays small. */
function keepEnvToolFiles(rel: string): boolean {
  const base = path.basename(rel);
  return /^(ld[-.].*|libc\.so\.6|libubootenv\.so.*|libz\.so.*|libyaml-0\.so.*|fw_printenv|fw_setenv)$/.test(base);
}

export async function buildInitramfs(o: InitramfsOptions): Promise<void> {
  const p = o.profile;
  const pk = o.packages;
  fs.rmSync(o.scratch, { recursive: true, force: true });
  const tree = path.join(o.scratch, 'tree');
  initTree(tree, ['newroot']);
  await installBusybox(pk.busybox.root, tree, pk.hostBusybox);
  await ensureDepmod(pk.kernel.root, pk.kernelRelease);
  const mods = moduleLoadOrder(pk.kernel.root, pk.kernelRelease, p.kernel?.modules ?? []);
  copyModules(pk.kernel.root, pk.kernelRelease, mods, tree);
  if (o.firstStage) {
    const libc = pk.node.find((x) => x.name === 'libc6')!;
    const zlib = pk.node.find((x) => x.name === 'zlib1g')!;
    for (const pkg of [libc, zlib, ...pk.envTools]) copyPackage(pkg.root, tree, keepEnvToolFiles);
    writeFile(tree, 'etc/fw_env.config', p.env.copies.map((c) => `${c.device} 0x${c.offset.toString(16)} 0x${c.size.toString(16)}`).join('\n') + '\n');
  }
  const q = (v: string): string => `'${v}'`;
  writeFile(
    tree,
    'etc/initramfs.env',
    [
      `MODULES=${q(mods.map((m) => `${pk.kernelRelease}/${m}`).join(' '))}`,
      `DISK=${q(storageOf(p).disk)}`,
      `PART_A=${q(partitionOf(p, 'a').device)}`,
      `PART_B=${q(partitionOf(p, 'b').device)}`,
      `FIRSTSTAGE=${o.firstStage ? 1 : 0}`,
      `SLOTVAR=${q(p.bootloader.slotVariable)}`,
      `BOOTLIMIT=${p.bootloader.bootlimit}`,
    ].join('\n') + '\n',
  );
  writeFile(tree, 'init', fs.readFileSync(guestFile('initramfs-init.sh')), 0o755);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  await run('sh', ['-c', `cd "$1" && find . -print0 | cpio --null -o -H newc --quiet -R 0:0 | gzip -1 > "$2"`, 'sh', tree, path.resolve(o.out)]);
  fs.rmSync(o.scratch, { recursive: true, force: true });
}
