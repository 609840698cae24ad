// What the serial flasher must know about a board's U-Boot: its prompt, a RAM address to load
// into, the storage interface and device its `read`/`write` commands take, and where the env
// sits on that device. Looked up by board profile name; a profile's env copies, when they name
// the same whole disk, override the defaults here.

import type { BoardProfile } from '../board/profile.js';
import { ConfigError } from '../errors.js';

export interface EnvRegion {
  /** Byte offset on the storage device (block aligned). */
  offset: number;
  size: number;
}

export interface SerialBoard {
  name: string;
  prompt: string;
  /** Where `loady` puts the payload; the read-back goes just above it. */
  loadAddr: number;
  /** Largest payload that fits twice (load + read-back) in RAM below U-Boot. */
  maxPayload: number;
  storage: {
    /** U-Boot block command: virtio, mmc, scsi, usb... */
    iface: string;
    dev: number;
    blockSize: number;
    /** Commands that make the device visible (`virtio scan`, `mmc dev 0`). */
    prepare: string[];
    /** The same disk as Linux names it, to read env offsets from the board profile. */
    linuxDevice: string;
  };
  env: EnvRegion[];
}

const MiB = 1024 * 1024;

// QEMU's virt machine: RAM from 0x40000000; kernel_addr_r (0x40400000) is free at the prompt.
// With -m 256M U-Boot relocates itself below 0x50000000, so two 96 MiB copies fit.
const qemuVirt = (name: string): SerialBoard => ({
  name,
  prompt: '=> ',
  loadAddr: 0x40400000,
  maxPayload: 96 * MiB,
  storage: { iface: 'virtio', dev: 0, blockSize: 512, prepare: ['virtio scan'], linuxDevice: '/dev/vda' },
  env: [{ offset: 0x40000, size: 0x40000 }],
});

export const SERIAL_BOARDS: Record<string, SerialBoard> = {
  'qemu-arm64-virt': qemuVirt('qemu-arm64-virt'),
  'qemu-armhf-virt': qemuVirt('qemu-armhf-virt'),
  // Raspberry Pi 3/4 (64-bit U-Boot, rpi_arm64_defconfig): SD card as mmc 0, env kept raw on the
  // card. Untested on hardware; shown as the shape of a real board's entry.
  'rpi-arm64-uboot': {
    name: 'rpi-arm64-uboot',
    prompt: 'U-Boot> ',
    loadAddr: 0x01000000,
    maxPayload: 256 * MiB,
    storage: { iface: 'mmc', dev: 0, blockSize: 512, prepare: ['mmc dev 0'], linuxDevice: '/dev/mmcblk0' },
    env: [{ offset: 0x3fc000, size: 0x4000 }],
  },
};

/** The serial description of `name`, with env regions taken from its profile when that can be trusted. */
export function serialBoard(name: string, profile?: BoardProfile): SerialBoard {
  const base = SERIAL_BOARDS[name];
  if (!base) throw new ConfigError(`no serial flashing description for board ${name} (known: ${Object.keys(SERIAL_BOARDS).join(', ')})`);
  const copies = profile?.env.copies ?? [];
  if (copies.length && copies.every((c) => c.device === base.storage.linuxDevice && c.offset >= 0 && c.offset % base.storage.blockSize === 0)) {
    return { ...base, env: copies.map((c) => ({ offset: c.offset, size: c.size })) };
  }
  return base;
}
