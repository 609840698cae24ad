// Rootfs images for simulated devices: a 4 KiB header that says what "booting" this slot
// does (the version it runs, whether its kernel comes up, the knobs its worker gets), then
// filler up to the image size. The simulator reads the header of the slot it boots, so the
// content of an update, not a test flag, decides whether the update is good.

import { createHash } from 'node:crypto';
import type { FileSystem } from '../platform/fs.js';

export const SIM_MAGIC = 'SLOTFLIP-SIM-ROOTFS\n';
export const SIM_HEADER_BYTES = 4096;

export interface SimRootfs {
  version: string;
  /** 'panic': the kernel never reaches init; the bootloader's counter must save the device. */
  kernel: 'ok' | 'panic';
  /** Environment for the sample worker (SAMPLE_* knobs), e.g. { SAMPLE_NEVER_READY: '1' }. */
  worker: Record<string, string>;
}

/**
 * Builds an image like a freshly made filesystem: the header, then "files" (deterministic,
 * incompressible bytes) in the first quarter, and free space (zeros) after it.
 */
export function simRootfsImage(spec: SimRootfs, size: number): Buffer {
  const header = Buffer.from(SIM_MAGIC + JSON.stringify(spec) + '\n');
  if (header.length > SIM_HEADER_BYTES) throw new RangeError('sim rootfs header too large');
  const img = Buffer.alloc(Math.max(size, SIM_HEADER_BYTES));
  header.copy(img, 0);
  const used = Math.floor(img.length / 4);
  let block = createHash('sha256').update(spec.version).digest();
  for (let off = SIM_HEADER_BYTES; off < used; off += block.length) {
    block.copy(img, off, 0, Math.min(block.length, used - off));
    block = createHash('sha256').update(block).digest();
  }
  return img;
}

export function parseSimHeader(head: Uint8Array): SimRootfs | undefined {
  const text = Buffer.from(head).toString('utf8', 0, Math.min(head.length, SIM_HEADER_BYTES));
  if (!text.startsWith(SIM_MAGIC)) return undefined;
  try {
    const spec = JSON.parse(text.slice(SIM_MAGIC.length).split('\n')[0]!) as SimRootfs;
    return { version: String(spec.version), kernel: spec.kernel === 'panic' ? 'panic' : 'ok', worker: spec.worker ?? {} };
  } catch {
    return undefined;
  }
}

export async function readSimHeader(fs: FileSystem, device: string): Promise<SimRootfs | undefined> {
  let fh;
  try {
    fh = await fs.open(device, 'read');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(SIM_HEADER_BYTES);
    const n = await fh.read(buf, 0, buf.length, 0);
    return parseSimHeader(buf.subarray(0, n));
  } finally {
    await fh.close();
  }
}
