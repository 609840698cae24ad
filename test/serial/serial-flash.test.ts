// serialFlash and the U-Boot console against a scripted U-Boot: the happy path to a partition,
// and the refusals real U-Boot under QEMU cannot be made to produce (corrupted load, failed
// write), plus late attach, a silent board, and payloads that do not fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Console } from '../../src/serial/console.js';
import { serialFlash, parseSerialTarget, isEnvImage, type SerialTarget } from '../../src/serial/serial-flash.js';
import { serialBoard } from '../../src/serial/boards.js';
import { crc32 } from '../../src/crypto/crc.js';
import { startFakeUboot, type FakeUbootOptions } from './fake-uboot.js';
import { linkPair } from './loopback.js';

const board = serialBoard('qemu-arm64-virt');
const PARTS = [
  { start: 2048, blocks: 2048 },
  { start: 4096, blocks: 64 },
];

function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 29 + 5) & 0xff;
  return b;
}

async function run(data: Buffer, target: SerialTarget, fake: Partial<FakeUbootOptions> = {}, extra: { autobootTimeoutMs?: number } = {}) {
  const [host, boardEnd] = linkPair();
  const disk = Buffer.alloc(8 << 20);
  const uboot = startFakeUboot(new Console(boardEnd), { disk, partitions: PARTS, ...fake });
  const con = new Console(host);
  try {
    const report = await serialFlash({ console: con, board, payload: data, name: 'p.bin', target, ...extra });
    return { report, disk, commands: uboot.commands };
  } finally {
    await con.close();
    await uboot.done;
  }
}

test('partition target: loady, crc32, virtio write and read-back; bytes land at the partition start, zero-padded to a block', async () => {
  const data = payload(10_000);
  const { report, disk, commands } = await run(data, { kind: 'partition', index: 1 });
  assert.equal(report.paddedBytes, 10_240);
  assert.equal(report.crc32, crc32(Buffer.concat([data, Buffer.alloc(240)])).toString(16).padStart(8, '0'));
  assert.deepEqual(report.writes, [{ lba: 2048, blocks: 20 }]);
  assert.ok(disk.subarray(2048 * 512, 2048 * 512 + data.length).equals(data));
  assert.ok(disk.subarray(2048 * 512 + data.length, 2048 * 512 + 10_240).equals(Buffer.alloc(240)));
  assert.deepEqual(
    commands.filter((c) => !c.startsWith('echo')),
    ['true', 'virtio scan', 'part start virtio 0 1 sf_start', 'part size virtio 0 1 sf_size', 'loady 0x40400000', 'crc32 0x40400000 0x2800', 'virtio write 0x40400000 0x800 0x14', 'virtio read 0x40500000 0x800 0x14', 'crc32 0x40500000 0x2800'],
  );
});

test('a load that U-Boot received wrong is refused with SF_ERR_UBOOT_CRC and nothing is written', async () => {
  const [host, boardEnd] = linkPair();
  const disk = Buffer.alloc(4 << 20);
  const uboot = startFakeUboot(new Console(boardEnd), { disk, partitions: PARTS, corruptLoad: true });
  const con = new Console(host);
  await assert.rejects(serialFlash({ console: con, board, payload: payload(5000), name: 'p', target: { kind: 'offset', offset: 1 << 20 } }), { code: 'SF_ERR_UBOOT_CRC' });
  await con.close();
  await uboot.done;
  assert.ok(!uboot.commands.some((c) => c.startsWith('virtio write')), 'no write after a bad crc32');
  assert.ok(disk.equals(Buffer.alloc(4 << 20)));
});

test('a failing virtio write surfaces as SF_ERR_UBOOT_COMMAND with the board output', async () => {
  await assert.rejects(run(payload(2048), { kind: 'partition', index: 1 }, { failWrite: true }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SF_ERR_UBOOT_COMMAND');
    assert.match(err.message, /virtio write .* failed \(status 1\).*ERROR/);
    return true;
  });
});

test('a payload larger than the partition is refused before loady', async () => {
  await assert.rejects(run(payload(64 * 512 + 1), { kind: 'partition', index: 2 }), { code: 'SF_ERR_UBOOT_COMMAND', message: /holds 64 blocks/ });
});

test('env target: the payload must be an env image of the region size', async () => {
  await assert.rejects(run(payload(board.env[0]!.size), { kind: 'env' }), { code: 'SF_ERR_USAGE', message: /not a U-Boot env image/ });
  const env = Buffer.alloc(board.env[0]!.size);
  env.write('a=1\0\0', 4, 'latin1');
  env.writeUInt32LE(crc32(env.subarray(4)), 0);
  assert.ok(isEnvImage(env));
  const { disk, report } = await run(env, { kind: 'env' });
  assert.deepEqual(report.writes, [{ lba: board.env[0]!.offset / 512, blocks: board.env[0]!.size / 512 }]);
  assert.ok(disk.subarray(board.env[0]!.offset, board.env[0]!.offset + env.length).equals(env));
});

test('attaching to a board already at its prompt (no autoboot message) still gets a prompt', async () => {
  const data = payload(1000);
  const { disk } = await run(data, { kind: 'offset', offset: 512 * 100 }, { autoboot: false });
  assert.ok(disk.subarray(512 * 100, 512 * 100 + 1000).equals(data));
});

test('a board that never speaks fails with SF_ERR_SERIAL_TIMEOUT', async () => {
  const [host] = linkPair();
  const con = new Console(host);
  await assert.rejects(
    serialFlash({ console: con, board, payload: payload(10), name: 'p', target: { kind: 'offset', offset: 0 }, autobootTimeoutMs: 300 }),
    { code: 'SF_ERR_SERIAL_TIMEOUT' },
  );
  await con.close();
});

test('--target parsing', () => {
  assert.deepEqual(parseSerialTarget('env'), { kind: 'env' });
  assert.deepEqual(parseSerialTarget('partition:3'), { kind: 'partition', index: 3 });
  assert.deepEqual(parseSerialTarget('offset:0x100000'), { kind: 'offset', offset: 0x100000 });
  for (const bad of ['partition:0', 'partition:x', 'offset:', 'mmc']) assert.throws(() => parseSerialTarget(bad), { code: 'SF_ERR_USAGE' });
});
