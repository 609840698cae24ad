// Where things sit on a board's disk, computed from its profile: partition numbers, byte
// offsets (1 MiB aligned, after the env region) and the host-side fw_env.config for an image file.

import * as path from 'node:path';
import type { BoardProfile, Storage } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { repoRoot } from './deps.js';

export const MiB = 1 << 20;
/** The first partition starts here; the env copies live below it. */
export const FIRST_PARTITION_OFFSET = MiB;

export interface PartitionLayout {
  role: Storage['partitions'][number]['role'];
  device: string;
  number: number;
  offset: number;
  size: number;
}

export function storageOf(p: BoardProfile): Storage {
  if (!p.storage) throw new QemuError(`board ${p.name} has no storage layout`);
  return p.storage;
}

export function partitions(p: BoardProfile): PartitionLayout[] {
  let offset = FIRST_PARTITION_OFFSET;
  return storageOf(p).partitions.map((part, i) => {
    const l = { role: part.role, device: part.device, number: i + 1, offset, size: part.sizeMiB * MiB };
    offset += l.size;
    return l;
  });
}

export function partitionOf(p: BoardProfile, role: PartitionLayout['role']): PartitionLayout & { sizeMiB: number } {
  const l = partitions(p).find((x) => x.role === role);
  if (!l) throw new QemuError(`board ${p.name} has no ${role} partition`);
  return { ...l, sizeMiB: l.size / MiB };
}

export function diskBytes(p: BoardProfile): number {
  const last = partitions(p).at(-1)!;
  return last.offset + last.size;
}

/** Checks that the env copies sit on the whole disk below the first partition. */
export function envCopiesOnDisk(p: BoardProfile): { offset: number; size: number }[] {
  const disk = storageOf(p).disk;
  return p.env.copies.map((c) => {
    if (c.device !== disk || c.offset < 512 || c.offset + c.size > FIRST_PARTITION_OFFSET || c.offset % 512 || c.size % 512) {
      throw new QemuError(`board ${p.name}: env copy ${c.device}@${c.offset} must be 512-aligned on ${disk} below 1 MiB`);
    }
    return { offset: c.offset, size: c.size };
  });
}

/** fw_env.config text for a disk image file on the host (same offsets as on the board). */
export function hostFwEnvConfig(p: BoardProfile, diskFile: string): string {
  return envCopiesOnDisk(p).map((c) => `${diskFile} 0x${c.offset.toString(16)} 0x${c.size.toString(16)}`).join('\n') + '\n';
}

/** A file shipped in qemu/guest/ (init scripts). */
export function guestFile(name: string): string {
  return path.join(repoRoot(), 'qemu', 'guest', name);
}
