// A small QEMU for the serial tests: Debian's qemu_arm64 U-Boot on the virt machine with one
// raw virtio disk and its console on a pty or a unix socket. Installs qemu-system-arm and
// u-boot-qemu with apt-get when missing (as scripts/test.mjs does), and fails clearly if it cannot.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { once } from 'node:events';

export const UBOOT_BIN = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';
const QEMU = 'qemu-system-aarch64';

const NEEDS: Array<{ pkg: string; present: () => boolean }> = [
  { pkg: 'qemu-system-arm', present: () => spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0 },
  { pkg: 'u-boot-qemu', present: () => existsSync(UBOOT_BIN) },
  { pkg: 'libubootenv-tool', present: () => spawnSync('fw_printenv', ['--version'], { stdio: 'ignore' }).error === undefined },
];

export function ensureQemu(): void {
  let missing = NEEDS.filter((n) => !n.present()).map((n) => n.pkg);
  if (!missing.length) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) break;
  }
  missing = NEEDS.filter((n) => !n.present()).map((n) => n.pkg);
  if (missing.length) {
    throw new Error(`this test needs the Debian packages ${missing.join(', ')} (${QEMU}, ${UBOOT_BIN}, fw_printenv); installing them with apt-get failed (root and Debian's archive are needed)`);
  }
}

export interface Guest {
  /** What openLink() takes: a /dev/pts path or unix:PATH. */
  spec: string;
  proc: ChildProcess;
  /** QEMU's own stdout/stderr. */
  output(): string;
  /** SIGTERM (QEMU flushes its disks and exits), then waits for the exit. */
  stop(): Promise<void>;
  /** Resolves with QEMU's exit code once it exits by itself (e.g. after U-Boot's `poweroff`). */
  exited: Promise<number | null>;
}

export async function startGuest(dir: string, disk: string, serial: 'pty' | 'unix'): Promise<Guest> {
  const sock = path.join(dir, 'console.sock');
  const proc = spawn(
    QEMU,
    [
      '-M', 'virt', '-cpu', 'cortex-a53', '-m', '256M', '-nographic', '-nic', 'none', '-monitor', 'none',
      '-bios', UBOOT_BIN,
      '-drive', `if=none,file=${disk},format=raw,id=d0`, '-device', 'virtio-blk-pci,drive=d0',
      // wait=on: QEMU starts the guest only once we are connected, so no output is lost.
      '-serial', serial === 'pty' ? 'pty' : `unix:${sock},server=on,wait=on`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const collect = (d: Buffer): void => {
    out += d.toString();
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = once(proc, 'exit');
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
  };
  try {
    const deadline = Date.now() + 15000;
    let spec: string | undefined;
    while (!spec) {
      if (proc.exitCode !== null) throw new Error(`QEMU exited early: ${out}`);
      if (Date.now() > deadline) throw new Error(`QEMU did not open its serial console: ${out}`);
      // QEMU announces both: "char device redirected to /dev/pts/N" and, with wait=on,
      // "QEMU waiting for connection on: ...".
      const m = serial === 'pty' ? /char device redirected to (\/dev\/pts\/\d+)/.exec(out) : /waiting for connection on/.exec(out);
      if (m) spec = serial === 'pty' ? m[1] : `unix:${sock}`;
      else await Promise.race([once(proc.stdout!, 'data'), once(proc.stderr!, 'data'), exited, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    return { spec, proc, output: () => out, stop, exited: exited.then(([code]) => code as number | null) };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A raw disk with an MBR: partition 1 at 1 MiB (1 MiB long), partition 2 at 2 MiB (2 MiB long). */
export async function makeDisk(file: string, size = 8 * 1024 * 1024): Promise<{ partitions: Array<{ start: number; size: number }> }> {
  const partitions = [
    { start: 1 << 20, size: 1 << 20 },
    { start: 2 << 20, size: 2 << 20 },
  ];
  const mbr = Buffer.alloc(512);
  partitions.forEach((p, i) => {
    const e = 446 + 16 * i;
    mbr[e + 4] = 0x83; // Linux
    mbr.writeUInt32LE(p.start / 512, e + 8);
    mbr.writeUInt32LE(p.size / 512, e + 12);
  });
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const fh = await fsp.open(file, 'w');
  await fh.truncate(size);
  await fh.write(mbr, 0, 512, 0);
  await fh.close();
  return { partitions };
}
