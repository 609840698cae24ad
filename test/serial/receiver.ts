// A YMODEM receiver written for the tests from the protocol description, in two manners:
// like U-Boot's loady (no 'C' after block 0, ACKs the first EOT, asks for resends with 'C')
// and textbook (NAKs, 'C' after block 0, NAK on the first EOT).
import assert from 'node:assert/strict';
import type { Console } from '../../src/serial/console.js';
import { crc16, ACK, NAK, EOT, SOH, STX, CRC_MODE } from '../../src/serial/ymodem.js';

export type Mode = 'uboot' | 'standard';
type Frame = { kind: 'block'; seq: number; payload: Buffer } | { kind: 'eot' } | { kind: 'bad' };

export async function readFrame(con: Console): Promise<Frame> {
  for (;;) {
    const first = await con.readByte(3000);
    if (first === EOT) return { kind: 'eot' };
    if (first !== SOH && first !== STX) continue; // noise before a header
    const len = first === SOH ? 128 : 1024;
    const bytes: number[] = [];
    for (let i = 0; i < len + 4; i++) bytes.push(await con.readByte(3000));
    const [seq, cseq] = bytes;
    const payload = Buffer.from(bytes.slice(2, 2 + len));
    const crc = (bytes[2 + len]! << 8) | bytes[3 + len]!;
    if ((seq! ^ cseq!) !== 0xff || crc16(payload) !== crc) return { kind: 'bad' };
    return { kind: 'block', seq: seq!, payload };
  }
}

export interface Received {
  name: string;
  size: number;
  data: Buffer;
  naks: number;
}

export async function receive(con: Console, mode: Mode): Promise<Received> {
  const retry = Buffer.from([mode === 'uboot' ? CRC_MODE : NAK]);
  let naks = 0;
  await con.write(Buffer.from([CRC_MODE]));
  let header: Frame;
  while ((header = await readFrame(con)).kind !== 'block') {
    naks++;
    await con.write(Buffer.from([CRC_MODE]));
  }
  const text = header.payload.toString('latin1');
  const name = text.slice(0, text.indexOf('\0'));
  const size = Number(text.slice(name.length + 1, text.indexOf('\0', name.length + 1)));
  await con.write(Buffer.from(mode === 'standard' ? [ACK, CRC_MODE] : [ACK]));
  const chunks: Buffer[] = [];
  let expected = 1;
  let eots = 0;
  for (;;) {
    const f = await readFrame(con);
    if (f.kind === 'eot') {
      if (mode === 'standard' && eots++ === 0) {
        await con.write(Buffer.from([NAK]));
        continue;
      }
      await con.write(Buffer.from(mode === 'uboot' ? [ACK, ACK, CRC_MODE] : [ACK, CRC_MODE]));
      break;
    }
    if (f.kind === 'bad') {
      naks++;
      await con.write(retry);
    } else if (f.seq === (expected & 0xff)) {
      chunks.push(f.payload);
      expected++;
      await con.write(Buffer.from([ACK]));
    } else if (f.seq === ((expected - 1) & 0xff)) {
      await con.write(Buffer.from([ACK])); // a resend of what we have: just ACK again
    } else {
      throw new Error(`sequence error: got ${f.seq}, expected ${expected & 0xff}`);
    }
  }
  const closing = await readFrame(con);
  assert.equal(closing.kind, 'block');
  if (closing.kind === 'block') {
    assert.equal(closing.seq, 0);
    assert.ok(closing.payload.equals(Buffer.alloc(128)), 'closing block 0 is empty');
  }
  await con.write(Buffer.from([ACK]));
  return { name, size, data: Buffer.concat(chunks).subarray(0, size), naks };
}
