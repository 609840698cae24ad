// Fuzzing the files an installer or a packager writes by hand: device configs (with their board
// profile defaults and fw_env.config), board profiles, and fw_env.config text. Each is
// accepted whole or refused with SF_ERR_CONFIG naming the field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { parseFwEnvConfig, resolveDeviceConfig } from '../../src/config/device.js';
import { parseProfile, profilesDir } from '../../src/board/profile.js';
import { fuzzSync, outcome } from './support.js';
import { mutatedBytes, mutatedJson } from './mutate.js';

const CONFIG = ['SF_ERR_CONFIG'];

const dir = mkdtempSync(path.join(tmpdir(), 'slotflip-fuzz-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const deviceFile = path.join(dir, 'device.json');
writeFileSync(path.join(dir, 'fw_env.config'), '# two copies\n/dev/mmcblk0 0x3f8000 0x4000\n/dev/mmcblk0 -0x4000 4000 0x2000 2\n');

const DEVICE_SAMPLES: unknown[] = [
  {
    deviceId: 'sim-1',
    board: 'host-sim',
    dataDir: 'data',
    trustedKeys: ['keys/operator.pem'],
    slots: { a: { device: 'slot-a.img', type: 'file', size: 65536 }, b: { device: 'slot-b.img', type: 'file', size: 65536 } },
    bootedSlot: { file: 'booted-slot' },
    syncEveryChunks: 16,
    worker: { command: ['node', 'server.mjs'], sockets: [{ name: 'http', tcp: '127.0.0.1:0' }, { name: 'u', unix: '/run/w.sock' }], healthWindowSeconds: 10, restartBackoff: { initialMs: 100, maxMs: 1000 } },
  },
  {
    deviceId: 'gw-7',
    board: 'qemu-arm64-virt',
    group: 'canary',
    dataDir: '/var/lib/slotflip',
    trustedKeys: ['/etc/slotflip/a.pem', '/etc/slotflip/b.pem'],
    revokedKeys: ['0123456789abcdef'],
    env: { backend: 'uboot', fwEnvConfig: 'fw_env.config' },
    broker: { url: 'mqtts://broker:8883', username: 'u', password: 'p', topicPrefix: 'fleet', keepaliveSeconds: 10 },
    bootedSlot: { cmdline: '/proc/cmdline', param: 'slotflip.slot' },
    rebootCommand: ['systemctl', 'reboot'],
    bufferSize: 65536,
  },
  { deviceId: 'dev', board: 'raspberrypi4-uboot', dataDir: 'd', trustedKeys: ['k'], env: { backend: 'file', path: 'env.json' } },
  { deviceId: 'dev', board: 'host-sim', dataDir: 'd', trustedKeys: ['k'], env: { backend: 'uboot', copies: [{ device: 'env.bin', offset: -8192, size: 8192, sectorSize: 8192, sectors: 1 }] } },
];

test('resolveDeviceConfig: mutated device configs resolve to absolute, complete configs or SF_ERR_CONFIG', (t) => {
  fuzzSync(t, 1500, fc.oneof({ weight: 5, arbitrary: mutatedJson(DEVICE_SAMPLES, 3) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }), (json) => {
    const r = outcome(() => resolveDeviceConfig(json, deviceFile), CONFIG);
    if (!r.ok) return;
    const c = r.value;
    for (const p of [c.dataDir, c.slots.a.device, c.slots.b.device, ...c.trustedKeys]) assert.ok(path.isAbsolute(p), `${p} is not absolute`);
    if (c.env.backend === 'uboot') {
      assert.ok(c.env.copies.length >= 1 && c.env.copies.length <= 2);
      for (const e of c.env.copies) assert.ok(path.isAbsolute(e.device) && Number.isSafeInteger(e.offset) && e.size > 0);
    } else {
      assert.ok(path.isAbsolute(c.env.path));
    }
    assert.ok(c.bufferSize >= 4096 && c.rebootCommand.length >= 1 && c.bootlimit >= 1);
  });
});

const PROFILES = readdirSync(profilesDir())
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(path.join(profilesDir(), f), 'utf8')) as unknown);

test('parseProfile: the shipped profiles, mutated, parse or are SF_ERR_CONFIG', (t) => {
  assert.ok(PROFILES.length >= 1);
  for (const p of PROFILES) parseProfile(p, 'shipped');
  fuzzSync(t, 1500, fc.oneof({ weight: 5, arbitrary: mutatedJson(PROFILES, 3) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }), (json) => {
    const r = outcome(() => parseProfile(json, 'fuzzed.json'), CONFIG);
    if (r.ok) assert.ok(r.value.env.copies.length >= 1 && r.value.env.copies.length <= 2);
  });
});

const copyArb = fc.record({
  device: fc.stringMatching(/^\/dev\/[a-z0-9]{1,12}$/),
  offset: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  size: fc.integer({ min: 1, max: 2 ** 32 }),
  sectorSize: fc.option(fc.integer({ min: 1, max: 2 ** 24 }), { nil: undefined }),
  sectors: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
});

test('parseFwEnvConfig reads back what a fw_env.config line says (hex sizes, C offsets)', (t) => {
  fuzzSync(t, 1500, fc.tuple(fc.array(copyArb, { minLength: 1, maxLength: 2 }), fc.boolean()), ([copies, hexOffsets]) => {
    const text = copies
      .map((c) => {
        const off = hexOffsets ? `${c.offset < 0 ? '-' : ''}0x${Math.abs(c.offset).toString(16)}` : String(c.offset);
        const tail = c.sectorSize !== undefined ? ` 0x${c.sectorSize.toString(16)}${c.sectors !== undefined ? ` ${c.sectors}` : ''}` : '';
        return `${c.device}\t${off} ${c.size.toString(16)}${tail}  # comment`;
      })
      .join('\n');
    const want = copies.map((c) => ({
      device: c.device,
      offset: c.offset === 0 ? 0 : c.offset,
      size: c.size,
      ...(c.sectorSize !== undefined ? { sectorSize: c.sectorSize } : {}),
      ...(c.sectorSize !== undefined && c.sectors !== undefined ? { sectors: c.sectors } : {}),
    }));
    assert.deepEqual(parseFwEnvConfig(text).map((c) => ({ ...c, offset: c.offset === 0 ? 0 : c.offset })), want);
  });
});

test('parseFwEnvConfig: arbitrary and mutated text gives one or two copies or SF_ERR_CONFIG', (t) => {
  const sample = Buffer.from('# dev offset size sector sectors\n/dev/mtd1 0x0000 0x10000 0x10000\n/dev/mtd2 0 10000 10000 1\n');
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.stringMatching(/^[ \t#x0-9a-fA-F\n/a-z-]{0,80}$/), mutatedBytes([sample], 4).map((b) => b.toString('latin1')));
  fuzzSync(t, 2000, text, (s) => {
    const r = outcome(() => parseFwEnvConfig(s), CONFIG);
    if (r.ok) {
      assert.ok(r.value.length >= 1 && r.value.length <= 2);
      for (const c of r.value) assert.ok(Number.isSafeInteger(c.offset) && Number.isSafeInteger(c.size) && c.size > 0);
    }
  });
});
