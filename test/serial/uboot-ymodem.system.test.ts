// The serial flashing path against real U-Boot (Debian's qemu_arm64 build under QEMU): stop
// autoboot, loady a payload with our YMODEM sender, compare U-Boot's crc32, `virtio write` it,
// read it back in U-Boot, quit QEMU, and check the disk image's bytes on the host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openLink } from '../../src/serial/transport.js';
import { Console } from '../../src/serial/console.js';
import { serialFlash } from '../../src/serial/serial-flash.js';
import { serialBoard } from '../../src/serial/boards.js';
import { crc32 } from '../../src/crypto/crc.js';
import { ensureQemu, makeDisk, startGuest, type Guest } from './qemu-uboot.js';
import { runCli } from '../support/cli.js';

let dir: string;
const guests: Guest[] = [];

before(async () => {
  ensureQemu();
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-serial-'));
});
after(async () => {
  for (const g of guests) await g.stop();
  // No QEMU may outlive the test.
  for (const g of guests) assert.ok(g.proc.exitCode !== null || g.proc.signalCode !== null, 'QEMU still running');
  await fsp.rm(dir, { recursive: true, force: true });
});

function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 9) * 13 + 1) & 0xff;
  return b;
}

const cli = (argv: string[]): ReturnType<typeof runCli> => runCli(argv);

async function boot(disk: string, serial: 'pty' | 'unix'): Promise<{ guest: Guest; con: Console; transcript: () => string }> {
  const guest = await startGuest(dir, disk, serial);
  guests.push(guest);
  let text = '';
  const link = await openLink(guest.spec, { baudRate: 115200 });
  const con = new Console(link, { tap: (c) => (text += c.toString('latin1')) });
  return { guest, con, transcript: () => text };
}

test('pty + serialport, through the CLI: 64 KiB to partition 2 with loady, crc32, virtio write; bytes land on the disk', { timeout: 60000 }, async (t) => {
  const disk = path.join(dir, 'disk-pty.img');
  const { partitions } = await makeDisk(disk);
  const data = payload(64 * 1024);
  const file = path.join(dir, 'part2.bin');
  await fsp.writeFile(file, data);
  const t0 = performance.now();
  const guest = await startGuest(dir, disk, 'pty');
  guests.push(guest);
  const r = await cli(['flash', file, '--serial', guest.spec, '--board', 'qemu-arm64-virt', '--target', 'partition:2', '--json', '--show-console']);
  await guest.stop();
  assert.equal(r.code, 0, r.err.slice(-2000));
  const report = JSON.parse(r.out);
  const total = (performance.now() - t0) / 1000;
  t.diagnostic(`boot+flash ${total.toFixed(2)} s, loady ${report.ymodemSeconds.toFixed(2)} s (${(data.length / 1024 / report.ymodemSeconds).toFixed(1)} KiB/s over the pty)`);

  // --show-console copied the board's output to stderr. QEMU drops pty output until the pty is
  // opened, so under load we may attach after the countdown began; stopAutoboot copes (the
  // unix-socket test below checks the message itself).
  assert.match(r.err, new RegExp(`crc32 for 40400000 \\.\\.\\. 4040ffff ==> ${report.crc32}`), 'U-Boot computed the same CRC-32');
  assert.equal(report.crc32, crc32(data).toString(16).padStart(8, '0'));
  assert.deepEqual(report.writes, [{ lba: partitions[1]!.start / 512, blocks: 128 }]);
  assert.equal(report.ymodemResent, 0);

  const img = await fsp.readFile(disk);
  const p2 = partitions[1]!.start;
  assert.ok(img.subarray(p2, p2 + data.length).equals(data), 'payload bytes at partition 2');
  assert.ok(img.subarray(partitions[0]!.start, p2).equals(Buffer.alloc(p2 - partitions[0]!.start)), 'partition 1 untouched');
  assert.ok(img.subarray(p2 + data.length).equals(Buffer.alloc(img.length - p2 - data.length)), 'nothing written past the payload');
});

test('unix socket: an env image to the board env region; fw_printenv reads it from the disk', { timeout: 60000 }, async (t) => {
  const disk = path.join(dir, 'disk-env.img');
  await makeDisk(disk);
  const board = serialBoard('qemu-arm64-virt');
  const region = board.env[0]!;
  const vars = Buffer.from('bootdelay=0\0slotflip_slot=b\0sf_serial_test=written over ymodem\0\0', 'latin1');
  const env = Buffer.alloc(region.size);
  vars.copy(env, 4);
  env.writeUInt32LE(crc32(env.subarray(4)), 0);

  const t0 = performance.now();
  const { guest, con, transcript } = await boot(disk, 'unix');
  const report = await serialFlash({ console: con, board, payload: env, name: 'uboot.env', target: { kind: 'env' } });
  // Quit the way a board would: U-Boot's poweroff (PSCI SYSTEM_OFF) makes QEMU exit by itself.
  await con.write('poweroff\r');
  assert.equal(await guest.exited, 0);
  await con.close();
  // With wait=on we saw everything from the first byte: the countdown, and no distro boot after it.
  assert.match(transcript(), /Hit any key to stop autoboot/);
  assert.doesNotMatch(transcript(), /scanning bus|starting USB|Scanning disk/);
  t.diagnostic(`boot+flash ${((performance.now() - t0) / 1000).toFixed(2)} s, loady of ${env.length} bytes ${report.ymodemSeconds.toFixed(2)} s over the socket`);

  const img = await fsp.readFile(disk);
  assert.ok(img.subarray(region.offset, region.offset + region.size).equals(env));
  const config = path.join(dir, 'fw_env.config');
  await fsp.writeFile(config, `${disk} ${'0x' + region.offset.toString(16)} ${'0x' + region.size.toString(16)}\n`);
  const r = spawnSync('fw_printenv', ['-c', config, 'sf_serial_test', 'slotflip_slot'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'sf_serial_test=written over ymodem\nslotflip_slot=b\n');
});
