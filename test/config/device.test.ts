import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseFwEnvConfig, resolveDeviceConfig } from '../../src/config/device.js';

test('fw_env.config numbers are read as the U-Boot tools read them', () => {
  const copies = parseFwEnvConfig('# comment\n/dev/mmcblk0 0x40000 4000 200 2\n/dev/mmcblk0 -0x20000 0x4000\n');
  assert.deepEqual(copies[0], { device: '/dev/mmcblk0', offset: 0x40000, size: 0x4000, sectorSize: 0x200, sectors: 2 });
  assert.deepEqual(copies[1], { device: '/dev/mmcblk0', offset: -0x20000, size: 0x4000 });
  assert.throws(() => parseFwEnvConfig('/dev/x 0 zz\n'), { code: 'SF_ERR_CONFIG' });
  assert.throws(() => parseFwEnvConfig(''), { code: 'SF_ERR_CONFIG' });
});

test('octal offsets, like strtoll base 0', () => {
  assert.equal(parseFwEnvConfig('/dev/x 010 0x10\n')[0]!.offset, 8);
});

test('a device config takes the board defaults and resolves paths against its folder', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-cfg-'));
  const c = resolveDeviceConfig({ deviceId: 'd1', board: 'host-sim', dataDir: 'data', trustedKeys: ['k.pem'] }, path.join(dir, 'device.json'));
  assert.equal(c.dataDir, path.join(dir, 'data'));
  assert.equal(c.slots.a.device, path.join(dir, 'slot-a.img'));
  assert.equal(c.env.backend, 'uboot');
  assert.equal(c.slotVariable, 'slotflip_slot');
  assert.equal(c.bootlimit, 3);
});

test('bad configs name the file and the field', () => {
  assert.throws(() => resolveDeviceConfig({ deviceId: 'bad id!', board: 'host-sim', dataDir: 'd', trustedKeys: ['k'] }, '/x/device.json'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SF_ERR_CONFIG');
    assert.match(e.message, /\/x\/device.json: deviceId/);
    return true;
  });
  assert.throws(() => resolveDeviceConfig({ deviceId: 'd', board: 'no-such-board', dataDir: 'd', trustedKeys: ['k'] }), { code: 'SF_ERR_CONFIG' });
  assert.throws(() => resolveDeviceConfig({ deviceId: 'd', board: 'host-sim', dataDir: 'd', trustedKeys: [], extra: 1 }), { code: 'SF_ERR_CONFIG' });
});

test('watchdog: off by default; true takes the board profile\'s device, fed every third of its timeout', () => {
  const base = { deviceId: 'd', dataDir: '/d', trustedKeys: ['/k'] };
  assert.equal(resolveDeviceConfig({ ...base, board: 'host-sim' }).watchdog, undefined);
  assert.deepEqual(resolveDeviceConfig({ ...base, board: 'qemu-arm64-virt', watchdog: true }).watchdog, { device: '/dev/watchdog', intervalMs: 1667 });
  assert.deepEqual(resolveDeviceConfig({ ...base, board: 'host-sim', watchdog: { device: '/dev/watchdog1', intervalSeconds: 10 } }).watchdog, { device: '/dev/watchdog1', intervalMs: 10_000 });
  assert.throws(() => resolveDeviceConfig({ ...base, board: 'host-sim', watchdog: true }), (e: Error & { code?: string }) => e.code === 'SF_ERR_CONFIG' && /names no watchdog/.test(e.message));
  assert.throws(() => resolveDeviceConfig({ ...base, board: 'host-sim', watchdog: { device: '/dev/w', intervalSeconds: 0 } }), { code: 'SF_ERR_CONFIG' });
});
