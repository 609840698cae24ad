// The YMODEM sender against receivers written here from the protocol description: one that
// behaves like U-Boot's loady (no 'C' after block 0, ACKs the first EOT, asks for resends with
// 'C') and a textbook one (NAKs, 'C' after block 0, NAK on the first EOT); plus a noisy wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Console } from '../../src/serial/console.js';
import { ymodemSend, crc16, ACK, CAN, CRC_MODE } from '../../src/serial/ymodem.js';
import { receive, readFrame, type Mode } from './receiver.js';
import { linkPair, type Tamper } from './loopback.js';

function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

async function transfer(mode: Mode, data: Buffer, tamper: { host?: Tamper; board?: Tamper } = {}, blockTimeoutMs = 5000) {
  const [host, board] = linkPair();
  host.tamper = tamper.host;
  board.tamper = tamper.board;
  const hostCon = new Console(host);
  const boardCon = new Console(board);
  const progress: number[] = [];
  const [sent, got] = await Promise.all([
    ymodemSend(hostCon, { name: 'payload.bin', data, blockTimeoutMs, onProgress: (n) => progress.push(n) }),
    receive(boardCon, mode),
  ]);
  await host.close();
  return { sent, got, progress };
}

test('crc16 is CRC-16/XMODEM', () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
  assert.equal(crc16(Buffer.alloc(0)), 0);
});

for (const mode of ['uboot', 'standard'] as const) {
  test(`${mode} receiver: 64 KiB + a 100-byte tail arrive intact with name and size`, async () => {
    const data = payload(64 * 1024 + 100);
    const { sent, got, progress } = await transfer(mode, data);
    assert.equal(got.name, 'payload.bin');
    assert.equal(got.size, data.length);
    assert.ok(got.data.equals(data));
    assert.equal(sent.resent, 0);
    assert.equal(sent.blocks, 1 + 64 + 1 + 1); // header, 64 STX, one SOH tail, closing block
    assert.equal(progress.at(-1), data.length);
  });
}

test('sizes at block edges: empty, 1 byte, 128, 129, exactly 1024, 1025', async () => {
  for (const n of [0, 1, 128, 129, 1024, 1025]) {
    const data = payload(n);
    const { got } = await transfer('uboot', data);
    assert.ok(got.data.equals(data), `size ${n}`);
  }
});

test('a block corrupted on the wire is NAKed (or re-asked with C) and sent again', async () => {
  for (const mode of ['uboot', 'standard'] as const) {
    const data = payload(10 * 1024);
    // Host writes: 0 = block 0, 1 = block 1, ... flip a byte in block 4's payload once.
    const { sent, got } = await transfer(mode, data, {
      host: (d, i) => {
        if (i === 4) d[100]! ^= 0x01;
        return d;
      },
    });
    assert.ok(got.data.equals(data), mode);
    assert.equal(sent.resent, 1, mode);
    assert.equal(got.naks, 1, mode);
  }
});

test('a lost ACK makes the sender time out and resend; the receiver re-ACKs the duplicate', async () => {
  const data = payload(5 * 1024);
  let acks = 0;
  const { sent, got } = await transfer(
    'uboot',
    data,
    {
      board: (d) => {
        if (d.length === 1 && d[0] === ACK && ++acks === 3) return null; // the ACK of block 2
        return d;
      },
    },
    300,
  );
  assert.ok(got.data.equals(data));
  assert.equal(sent.resent, 1);
});

test('the receiver cancelling (CAN CAN) fails the transfer with SF_ERR_YMODEM', async () => {
  const [host, board] = linkPair();
  const hostCon = new Console(host);
  const boardCon = new Console(board);
  const sending = ymodemSend(hostCon, { name: 'x', data: payload(4096), blockTimeoutMs: 1000 });
  await boardCon.write(Buffer.from([CRC_MODE]));
  await readFrame(boardCon);
  await boardCon.write(Buffer.from([CAN, CAN]));
  await assert.rejects(sending, { code: 'SF_ERR_YMODEM', message: /cancelled/ });
  await host.close();
});

test('a receiver that never answers fails after the retries, with a clear error', async () => {
  const [host] = linkPair();
  const hostCon = new Console(host);
  await assert.rejects(ymodemSend(hostCon, { name: 'x', data: payload(10), startTimeoutMs: 200 }), { code: 'SF_ERR_YMODEM', message: /never asked/ });
  await host.close();
});
