// `slotflip flash PAYLOAD --serial PORT --board NAME --target ...`: put a small payload (an env
// image, a partition) on a board's storage through its U-Boot console: loady (YMODEM), compare
// U-Boot's crc32 with the host's, `<iface> write`, then `<iface> read` it back and compare again.

import { crc32 } from '../crypto/crc.js';
import { UsageError } from '../errors.js';
import type { Console } from './console.js';
import { UbootCommandError, UbootCrcError } from './errors.js';
import type { SerialBoard } from './boards.js';
import { Uboot, hex } from './uboot.js';

export type SerialTarget = { kind: 'env' } | { kind: 'partition'; index: number } | { kind: 'offset'; offset: number };

export function parseSerialTarget(text: string): SerialTarget {
  if (text === 'env') return { kind: 'env' };
  const part = /^partition:(\d+)$/.exec(text);
  if (part && Number(part[1]) > 0) return { kind: 'partition', index: Number(part[1]) };
  const off = /^offset:(0x[0-9a-fA-F]+|\d+)$/.exec(text);
  if (off) return { kind: 'offset', offset: Number(off[1]) };
  throw new UsageError(`--target must be env, partition:N or offset:BYTES, not "${text}"`);
}

export interface SerialFlashOptions {
  console: Console;
  board: SerialBoard;
  payload: Uint8Array;
  name: string;
  target: SerialTarget;
  /** false when the board already sits at its prompt. */
  stopAutoboot?: boolean;
  autobootTimeoutMs?: number;
  onProgress?: (sent: number, total: number) => void;
  log?: (line: string) => void;
}

export interface SerialFlashReport {
  bytes: number;
  /** Bytes sent and written: the payload zero-padded to whole blocks. */
  paddedBytes: number;
  crc32: string;
  writes: Array<{ lba: number; blocks: number }>;
  ymodemSeconds: number;
  ymodemResent: number;
  totalSeconds: number;
}

/** True when `data` is a U-Boot env image (CRC-32 over the rest, single or redundant layout). */
export function isEnvImage(data: Uint8Array): boolean {
  if (data.length < 8) return false;
  const stored = Buffer.from(data.buffer, data.byteOffset, 4).readUInt32LE(0);
  return crc32(data.subarray(4)) === stored || crc32(data.subarray(5)) === stored;
}

async function destinations(u: Uboot, board: SerialBoard, target: SerialTarget, padded: number, payload: Uint8Array): Promise<Array<{ lba: number; blocks: number }>> {
  const { iface, dev, blockSize } = board.storage;
  const blocks = padded / blockSize;
  if (target.kind === 'offset') {
    if (target.offset % blockSize !== 0) throw new UsageError(`offset ${target.offset} is not a multiple of the ${blockSize}-byte block`);
    return [{ lba: target.offset / blockSize, blocks }];
  }
  if (target.kind === 'env') {
    if (!isEnvImage(payload)) throw new UsageError('the payload is not a U-Boot env image (its CRC-32 header does not match); build one with mkenvimage');
    return board.env.map((r) => {
      if (payload.length !== r.size) throw new UsageError(`the env image has ${payload.length} bytes, the board's env region ${r.size}`);
      return { lba: r.offset / blockSize, blocks };
    });
  }
  await u.run(`part start ${iface} ${dev} ${target.index} sf_start`);
  await u.run(`part size ${iface} ${dev} ${target.index} sf_size`);
  const start = await u.getHexVar('sf_start');
  const size = await u.getHexVar('sf_size');
  if (blocks > size) throw new UbootCommandError(`partition ${target.index} holds ${size} blocks, the payload needs ${blocks}`);
  return [{ lba: start, blocks }];
}

export async function serialFlash(opts: SerialFlashOptions): Promise<SerialFlashReport> {
  const t0 = performance.now();
  const { board, payload } = opts;
  const log = opts.log ?? (() => {});
  const { iface, dev, blockSize } = board.storage;
  const padded = Math.ceil(payload.length / blockSize) * blockSize;
  if (padded === 0) throw new UsageError('the payload is empty');
  if (padded > board.maxPayload) throw new UsageError(`the payload (${padded} bytes) is larger than ${board.name} can take over serial (${board.maxPayload})`);
  const data = Buffer.alloc(padded);
  data.set(payload);
  const crc = crc32(data);

  const u = new Uboot(opts.console, { prompt: board.prompt });
  if (opts.stopAutoboot ?? true) {
    log('waiting for U-Boot and stopping autoboot');
    await u.stopAutoboot({ timeoutMs: opts.autobootTimeoutMs });
  } else {
    await u.sync();
  }
  for (const cmd of board.storage.prepare) await u.run(cmd);
  const writes = await destinations(u, board, opts.target, padded, payload);

  log(`sending ${padded} bytes with loady to ${hex(board.loadAddr)}`);
  const ymodem = await u.loadYmodem(board.loadAddr, data, opts.name, opts.onProgress);
  const received = await u.crc32(board.loadAddr, padded);
  if (received !== crc) {
    throw new UbootCrcError(`U-Boot received data with crc32 ${received.toString(16)}, the host sent ${crc.toString(16)}`);
  }
  // Read back above the payload, 1 MiB aligned, so the two copies never overlap.
  const readback = board.loadAddr + Math.ceil(padded / 0x100000) * 0x100000;
  for (const w of writes) {
    log(`${iface} write to block ${w.lba}, ${w.blocks} blocks`);
    await u.run(`${iface} write ${hex(board.loadAddr)} ${hex(w.lba)} ${hex(w.blocks)}`, { timeoutMs: 120000 });
    await u.run(`${iface} read ${hex(readback)} ${hex(w.lba)} ${hex(w.blocks)}`, { timeoutMs: 120000 });
    const back = await u.crc32(readback, padded);
    if (back !== crc) throw new UbootCrcError(`read-back of ${iface} ${dev} block ${w.lba} has crc32 ${back.toString(16)}, expected ${crc.toString(16)}`);
  }
  return {
    bytes: payload.length,
    paddedBytes: padded,
    crc32: crc.toString(16).padStart(8, '0'),
    writes,
    ymodemSeconds: ymodem.seconds,
    ymodemResent: ymodem.resent,
    totalSeconds: (performance.now() - t0) / 1000,
  };
}
