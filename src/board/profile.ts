// Board profiles: one JSON file per board in board-profiles/, validated here. A profile says
// where a board keeps its slots and its bootloader environment, how it boots and reboots, and
// gives the defaults a device config may override. The `qemu` block is read by qemu/ only.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { ConfigError } from '../errors.js';

export const ARCHES = ['arm64', 'armhf', 'armel', 'mips64el', 'mipsel', 'amd64'] as const;

/** One copy of the bootloader environment, as one line of fw_env.config says it. */
export const EnvCopySchema = z
  .object({
    device: z.string().min(1),
    /** Byte offset in the device; negative counts from the end of a block device. */
    offset: z.number().int(),
    /** Size of the environment area (CONFIG_ENV_SIZE). */
    size: z.number().int().positive(),
    /** Erase-block size (flash); defaults to size. */
    sectorSize: z.number().int().positive().optional(),
    sectors: z.number().int().positive().optional(),
  })
  .strict();
export type EnvCopy = z.infer<typeof EnvCopySchema>;

export const SLOT_TYPES = ['file', 'block', 'partition', 'mtdblock'] as const;
export const SlotDeviceSchema = z
  .object({
    device: z.string().min(1),
    type: z.enum(SLOT_TYPES).default('block'),
    /** Largest payload this slot holds; defaults to the device size. */
    size: z.number().int().positive().optional(),
  })
  .strict();
export type SlotDevice = z.infer<typeof SlotDeviceSchema>;

/** How the QEMU suite runs this board (read by qemu/ only; real boards leave it out). */
export const QemuMachineSchema = z
  .object({
    /** The emulator binary: qemu-system-aarch64, qemu-system-arm, qemu-system-mips64el. */
    system: z.string().min(1),
    machine: z.string().min(1),
    cpu: z.string().min(1),
    memory: z.string().regex(/^\d+[MG]$/).default('512M'),
    /** U-Boot binary given as -bios; absent: the first stage is QEMU's -kernel/-initrd. */
    bios: z.string().optional(),
    /** How the disk is attached: virtio-blk-pci or the board's IDE. */
    drive: z.enum(['virtio', 'ide']),
    /** The network card model for user networking. */
    nic: z.string().min(1),
    /** Kernel modules for that card, loaded by the slot's init in order. */
    nicModules: z.array(z.string()).default([]),
    /** A watchdog device model (-device), when the board has one. */
    watchdogDevice: z.string().optional(),
    /**
     * U-Boot's own env in a read-only pflash bank: the firmware's built-in default env with
     * `set` applied (e.g. bootdelay=0). Read-only because QEMU 7.2 corrupts pflash writes.
     */
    firmwareEnv: z
      .object({
        unit: z.number().int().nonnegative(),
        flashBytes: z.number().int().positive(),
        envSize: z.number().int().positive(),
        set: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .optional(),
    /** A line that the board prints once per reset (U-Boot's banner, or the kernel's). */
    resetBanner: z.string().min(1),
  })
  .strict();
export type QemuMachine = z.infer<typeof QemuMachineSchema>;

export const PARTITION_ROLES = ['boot', 'a', 'b', 'data'] as const;
/** The disk layout the image builder writes and the boot script reads. */
export const StorageSchema = z
  .object({
    /** The whole disk as Linux names it (/dev/vda, /dev/mmcblk0). */
    disk: z.string().min(1),
    /** The disk as U-Boot names it: interface and device number (virtio 0, mmc 0). */
    ubootInterface: z.string().optional(),
    ubootDevice: z.number().int().nonnegative().default(0),
    table: z.enum(['dos', 'gpt']).default('dos'),
    /** In partition-table order; the number of a partition is its index + 1. */
    partitions: z
      .array(z.object({ role: z.enum(PARTITION_ROLES), device: z.string().min(1), sizeMiB: z.number().int().positive(), fs: z.enum(['ext4', 'vfat']).default('ext4') }).strict())
      .min(3),
    /** Where each slot keeps its kernel and initramfs (inside the slot, so an update carries them). */
    kernelPath: z.string().default('/boot/vmlinuz'),
    initrdPath: z.string().default('/boot/initrd.img'),
  })
  .strict();
export type Storage = z.infer<typeof StorageSchema>;

export const BoardProfileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
    description: z.string(),
    arch: z.enum(ARCHES),
    /** 'qemu': proven by the QEMU suite; 'untested': an example never run on hardware. */
    tested: z.enum(['qemu', 'hardware', 'untested', 'host']),
    bootloader: z
      .object({
        /** 'uboot': U-Boot counts boots (natively or in its boot script); 'first-stage': an
         * initramfs plays the bootloader's part; 'simulator': slotflip's host simulator. */
        kind: z.enum(['uboot', 'first-stage', 'simulator']),
        slotVariable: z.string().default('slotflip_slot'),
        bootlimit: z.number().int().positive().default(3),
        /** Boot script source, relative to the profile file. */
        script: z.string().optional(),
        /** Values the boot script template is filled with (@NAME@), e.g. load addresses. */
        scriptParams: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string()).default({}),
        notes: z.string().optional(),
      })
      .strict(),
    env: z.object({ copies: z.array(EnvCopySchema).min(1).max(2) }).strict(),
    slots: z.object({ a: SlotDeviceSchema, b: SlotDeviceSchema }).strict(),
    data: z.object({ device: z.string().optional(), mountpoint: z.string() }).strict(),
    /** Kernel command-line parameter that names the slot that booted. */
    bootedSlotParam: z.string().default('slotflip.slot'),
    rebootCommand: z.array(z.string()).min(1).default(['reboot']),
    console: z.string().optional(),
    watchdog: z
      .object({ device: z.string(), module: z.string().optional(), timeoutSeconds: z.number().int().positive() })
      .strict()
      .optional(),
    kernel: z
      .object({ package: z.string(), image: z.string(), cmdline: z.string().optional(), modules: z.array(z.string()).default([]) })
      .strict()
      .optional(),
    io: z.object({ bufferSize: z.number().int().min(4096).max(16 * 1024 * 1024).default(1024 * 1024) }).strict().default({ bufferSize: 1024 * 1024 }),
    storage: StorageSchema.optional(),
    qemu: QemuMachineSchema.optional(),
  })
  .strict();
export type BoardProfile = z.infer<typeof BoardProfileSchema>;

/** The folder of shipped profiles: $SLOTFLIP_BOARD_PROFILES, else the package's own. */
export function profilesDir(): string {
  const fromEnv = process.env['SLOTFLIP_BOARD_PROFILES'];
  if (fromEnv) return fromEnv;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'board-profiles');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return '/usr/share/slotflip/board-profiles';
}

export function listProfiles(): string[] {
  const dir = profilesDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function parseProfile(json: unknown, source: string): BoardProfile {
  const parsed = BoardProfileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`board profile ${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      details: { file: source },
    });
  }
  return parsed.data;
}

/** Loads a profile by name (from profilesDir()) or by path (anything with a slash or .json). */
export function loadProfile(nameOrPath: string): BoardProfile & { file: string } {
  const file =
    nameOrPath.includes('/') || nameOrPath.endsWith('.json') ? path.resolve(nameOrPath) : path.join(profilesDir(), `${nameOrPath}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    const known = listProfiles();
    throw new ConfigError(`no board profile ${nameOrPath} (known: ${known.join(', ') || 'none'})`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`board profile ${file} is not valid JSON`, { cause });
  }
  return { ...parseProfile(json, file), file };
}
