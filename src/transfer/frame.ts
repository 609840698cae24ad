// The binary chunk frame: one payload chunk with everything needed to place and check it, so
// duplicates, reordering and frames of other releases are harmless. Layout (big-endian) is in
// docs/protocol.md; the receiver rejects anything larger than header + chunk size.

import { FrameError } from './errors.js';
import { crc32 } from './crc.js';

export const FRAME_MAGIC = Buffer.from('SFCK', 'latin1');
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 40;

/** Flags bit 0: a sync frame (no data): a publisher (re)started epoch `epoch`; devices re-join. */
export const FLAG_SYNC = 1;
/**
 * Flags bit 1: a repair frame (src/transfer/repair.ts). `chunk` is the first chunk of its
 * generation; the reserved field holds the generation's size (high byte) and the row (low byte).
 */
export const FLAG_REPAIR = 2;

export interface ChunkFrame {
  releaseId: string;
  flags: number;
  /** Publisher session: a new publisher process starts a new epoch and a new `seq` count. */
  epoch: number;
  /** Send sequence within the epoch, 1-based; receivers acknowledge the last one handled. */
  seq: number;
  payload: number;
  chunk: number;
  crc: number;
  /** Repair frames only: the generation's chunk count and the repair row. */
  repair?: { size: number; row: number };
  /** A view into the received message, valid while the message is being handled. */
  data: Uint8Array;
}

export function releaseIdBytes(releaseId: string): Buffer {
  const b = Buffer.from(releaseId, 'hex');
  if (b.length !== 8 || b.toString('hex') !== releaseId) throw new FrameError(`release id "${releaseId}" is not 16 hex digits`);
  return b;
}

export function encodeFrame(f: Omit<ChunkFrame, 'releaseId' | 'crc' | 'flags'> & { releaseId: Buffer; crc?: number; flags?: number }): Buffer {
  const flags = (f.flags ?? 0) | (f.repair ? FLAG_REPAIR : 0);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + f.data.length);
  FRAME_MAGIC.copy(out, 0);
  out.writeUInt8(FRAME_VERSION, 4);
  out.writeUInt8(flags, 5);
  out.writeUInt16BE(FRAME_HEADER_BYTES, 6);
  f.releaseId.copy(out, 8);
  out.writeUInt32BE(f.epoch >>> 0, 16);
  out.writeUInt32BE(f.seq >>> 0, 20);
  out.writeUInt16BE(f.payload, 24);
  out.writeUInt16BE(f.repair ? (f.repair.size << 8) | f.repair.row : 0, 26);
  out.writeUInt32BE(f.chunk >>> 0, 28);
  out.writeUInt32BE(f.data.length, 32);
  out.writeUInt32BE((f.crc ?? crc32(f.data)) >>> 0, 36);
  out.set(f.data, FRAME_HEADER_BYTES);
  return out;
}

/** True when the frame names this release; checked before any other parsing. */
export function frameIsFor(buf: Uint8Array, releaseId: Buffer): boolean {
  return buf.length >= 16 && Buffer.compare(buf.subarray(8, 16), releaseId) === 0;
}

/**
 * Parses a frame without checking its CRC. `maxData` is the largest chunk this release has;
 * a longer frame, a short one, or one whose length field disagrees with its size is refused.
 */
export function decodeFrame(input: Uint8Array, maxData: number): ChunkFrame {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < FRAME_HEADER_BYTES) throw new FrameError(`frame of ${buf.length} bytes is shorter than its header`);
  if (buf.length > FRAME_HEADER_BYTES + maxData) throw new FrameError(`frame of ${buf.length} bytes exceeds the ${FRAME_HEADER_BYTES + maxData} allowed`);
  if (Buffer.compare(buf.subarray(0, 4), FRAME_MAGIC) !== 0) throw new FrameError('frame does not start with SFCK');
  const version = buf.readUInt8(4);
  if (version !== FRAME_VERSION) throw new FrameError(`frame version ${version} is not supported`);
  const headerBytes = buf.readUInt16BE(6);
  if (headerBytes !== FRAME_HEADER_BYTES) throw new FrameError(`frame header of ${headerBytes} bytes is not supported`);
  const length = buf.readUInt32BE(32);
  if (length !== buf.length - FRAME_HEADER_BYTES) throw new FrameError(`frame says ${length} data bytes but carries ${buf.length - FRAME_HEADER_BYTES}`);
  const flags = buf.readUInt8(5);
  if ((flags & ~(FLAG_SYNC | FLAG_REPAIR)) !== 0 || flags === (FLAG_SYNC | FLAG_REPAIR)) throw new FrameError(`frame flags ${flags} are not supported`);
  if (flags & FLAG_SYNC && length !== 0) throw new FrameError('sync frame carries data');
  const reserved = buf.readUInt16BE(26);
  return {
    releaseId: buf.toString('hex', 8, 16),
    flags,
    epoch: buf.readUInt32BE(16),
    seq: buf.readUInt32BE(20),
    payload: buf.readUInt16BE(24),
    chunk: buf.readUInt32BE(28),
    crc: buf.readUInt32BE(36),
    ...(flags & FLAG_REPAIR ? { repair: { size: reserved >>> 8, row: reserved & 0xff } } : {}),
    data: buf.subarray(FRAME_HEADER_BYTES),
  };
}
