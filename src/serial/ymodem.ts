// YMODEM sender (YMODEM-1K, CRC-16), written from the protocol description for U-Boot's
// `loady`: block 0 carries "name NUL size", data goes in 1024-byte STX blocks (a short tail in
// a 128-byte SOH block), then EOT and an empty block 0 closes the batch.

import { YmodemError } from './errors.js';

export const SOH = 0x01;
export const STX = 0x02;
export const EOT = 0x04;
export const ACK = 0x06;
export const NAK = 0x15;
export const CAN = 0x18;
export const CRC_MODE = 0x43; // 'C': the receiver asks for CRC-16 blocks
export const PAD = 0x1a; // CP/M end-of-file filler; receivers cut at the size from block 0

/** The byte channel the sender needs; `Console` is one. */
export interface ByteChannel {
  write(data: Uint8Array): Promise<void>;
  readByte(timeoutMs: number): Promise<number>;
  discard(): unknown;
}

export interface YmodemSendOptions {
  name: string;
  data: Uint8Array;
  /** How long to wait for the receiver's first 'C' (U-Boot repeats it every few seconds). */
  startTimeoutMs?: number;
  /** How long to wait for an answer to one block. */
  blockTimeoutMs?: number;
  /** Resends of one block before giving up. */
  retries?: number;
  onProgress?: (sent: number, total: number) => void;
}

export interface YmodemResult {
  blocks: number;
  /** Blocks sent again after a NAK or a silent receiver. */
  resent: number;
  seconds: number;
}

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC-16/XMODEM (polynomial 0x1021, initial 0, no reflection), as YMODEM's CRC mode uses. */
export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const b of data) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** One framed block: start byte, number, its complement, payload, CRC-16 big-endian. */
export function frame(seq: number, payload: Uint8Array): Buffer {
  const size = payload.length;
  if (size !== 128 && size !== 1024) throw new RangeError(`YMODEM blocks are 128 or 1024 bytes, not ${size}`);
  const out = Buffer.alloc(3 + size + 2);
  out[0] = size === 128 ? SOH : STX;
  out[1] = seq & 0xff;
  out[2] = 0xff - (seq & 0xff);
  out.set(payload, 3);
  out.writeUInt16BE(crc16(payload), 3 + size);
  return out;
}

/** Block 0: file name, NUL, size in decimal; zero-filled. An empty name ends the batch. */
export function headerBlock(name: string, size: number | undefined): Buffer {
  const block = Buffer.alloc(128);
  if (name !== '') {
    const text = Buffer.from(`${name}\0${size ?? ''}`, 'latin1');
    if (text.length >= 128) throw new YmodemError(`file name too long for YMODEM block 0: ${name}`);
    text.copy(block);
  }
  return block;
}

/** Reads answers until one in `accept` comes; two CANs in a row are the receiver giving up. */
async function answer(ch: ByteChannel, accept: number[], timeoutMs: number): Promise<number | 'timeout'> {
  const deadline = performance.now() + timeoutMs;
  let cans = 0;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return 'timeout';
    let b: number;
    try {
      b = await ch.readByte(left);
    } catch (err) {
      if ((err as { code?: string }).code === 'SF_ERR_SERIAL_TIMEOUT') return 'timeout';
      throw err;
    }
    if (b === CAN) {
      if (++cans >= 2) throw new YmodemError('the receiver cancelled the transfer');
      continue;
    }
    cans = 0;
    if (accept.includes(b)) return b;
    // Anything else is line noise or a stale 'C'; keep listening.
  }
}

type Limits = Required<Pick<YmodemSendOptions, 'blockTimeoutMs' | 'retries'>>;

/**
 * Sends one block until it is ACKed; a NAK or silence sends it again. U-Boot asks for a resend
 * with 'C' rather than NAK, so `cIsNak` makes 'C' count as one; it is off for blocks 0 and 1,
 * where a 'C' may be the receiver's routine request crossing the block on the wire.
 */
async function sendBlock(ch: ByteChannel, block: Buffer, what: string, opts: Limits, stats: { resent: number }, cIsNak: boolean): Promise<void> {
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) stats.resent++;
    await ch.write(block);
    const a = await answer(ch, cIsNak ? [ACK, NAK, CRC_MODE] : [ACK, NAK], opts.blockTimeoutMs);
    if (a === ACK) return;
  }
  await ch.write(Buffer.from([CAN, CAN, CAN]));
  throw new YmodemError(`${what} was not acknowledged after ${opts.retries + 1} tries`);
}

export async function ymodemSend(ch: ByteChannel, opts: YmodemSendOptions): Promise<YmodemResult> {
  const t0 = performance.now();
  const limits = { blockTimeoutMs: opts.blockTimeoutMs ?? 5000, retries: opts.retries ?? 10 };
  const stats = { resent: 0 };
  const data = opts.data;

  if ((await answer(ch, [CRC_MODE], opts.startTimeoutMs ?? 30000)) === 'timeout') {
    throw new YmodemError("the receiver never asked for a CRC-mode transfer ('C')");
  }
  // More 'C's may have queued while we were slow; they are not answers to block 0.
  ch.discard();
  await sendBlock(ch, frame(0, headerBlock(opts.name, data.length)), 'block 0 (file header)', limits, stats, false);
  // A standard receiver now sends 'C' again; U-Boot's does not. Sending on without waiting
  // works for both: a late 'C' is skipped while waiting for block 1's ACK.

  let seq = 1;
  let blocks = 1;
  for (let off = 0; off < data.length; seq++, blocks++) {
    const left = data.length - off;
    const size = left <= 128 ? 128 : 1024;
    const payload = Buffer.alloc(size, PAD);
    payload.set(data.subarray(off, off + Math.min(size, left)));
    await sendBlock(ch, frame(seq, payload), `block ${seq}`, limits, stats, seq >= 2);
    off += Math.min(size, left);
    opts.onProgress?.(off, data.length);
  }

  // End of file: a standard receiver NAKs the first EOT and ACKs the second; U-Boot ACKs the
  // first (and then ACKs once more before its 'C').
  let eotAcked = false;
  for (let attempt = 0; attempt <= limits.retries && !eotAcked; attempt++) {
    await ch.write(Buffer.from([EOT]));
    eotAcked = (await answer(ch, [ACK, NAK], limits.blockTimeoutMs)) === ACK;
  }
  if (!eotAcked) throw new YmodemError('end of file (EOT) was not acknowledged');
  if ((await answer(ch, [CRC_MODE], limits.blockTimeoutMs)) === 'timeout') {
    throw new YmodemError("the receiver did not ask for the batch's closing block");
  }
  await sendBlock(ch, frame(0, headerBlock('', undefined)), 'the closing block 0', limits, stats, false);
  return { blocks: blocks + 1, resent: stats.resent, seconds: (performance.now() - t0) / 1000 };
}
