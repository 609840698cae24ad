// The device build (dist/device/slotflip.mjs, esbuild target node18) under Debian bookworm's
// own Node 18: a local install and a whole update over mosquitto, the agent running on it.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt from 'mqtt';
import { createSimDevice } from '../../src/simulator/device.js';
import { simRootfsImage } from '../../src/simulator/rootfs.js';
import { startMosquitto } from '../transfer/support.js';
import { publishBundle } from '../../src/operator/publish.js';
import { stopChild } from '../agent/fleet.js';

const BUNDLE = path.resolve('dist/device/slotflip.mjs');
let node18 = '';

function dev(args: string[], input?: Buffer): { code: number; out: string; err: string } {
  const r = spawnSync(node18, [BUNDLE, ...args], { encoding: 'utf8', input });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

before(() => {
  const fetched = spawnSync(process.execPath, ['scripts/node18.mjs'], { encoding: 'utf8' });
  assert.equal(fetched.status, 0, `cannot get Debian's Node 18: ${fetched.stderr}`);
  node18 = fetched.stdout.trim();
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
});

test('the device build runs on Debian Node 18: keygen, bundle, install, status, mark-good', async () => {
  assert.match(spawnSync(node18, ['--version'], { encoding: 'utf8' }).stdout, /^v18\./);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-node18-'));
  try {
    const k = dev(['keygen', '--out', path.join(dir, 'keys')]);
    assert.equal(k.code, 0, k.err);
    const config = await createSimDevice({ dir: path.join(dir, 'dev'), deviceId: 'n18', trustedKeys: [path.join(dir, 'keys/public.pem')], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: 16 << 20, worker: false });
    await fsp.writeFile(path.join(dir, 'dev/booted-slot'), 'a\n');
    await fsp.writeFile(path.join(dir, 'rootfs.img'), simRootfsImage({ version: '2.0.0', kernel: 'ok', worker: {} }, 8 << 20));
    const b = dev(['bundle', 'create', '--board', 'host-sim', '--version', '2.0.0', '--payload', `rootfs=${path.join(dir, 'rootfs.img')}`, '--key', path.join(dir, 'keys/private.pem'), '-o', path.join(dir, 'u.sfb')]);
    assert.equal(b.code, 0, b.err);
    const i = dev(['install', path.join(dir, 'u.sfb'), '--config', config, '--json']);
    assert.equal(i.code, 0, i.err);
    assert.equal(JSON.parse(i.out).slot, 'b');
    await fsp.writeFile(path.join(dir, 'dev/booted-slot'), 'b\n');
    assert.equal(dev(['mark-good', '--config', config]).code, 0);
    const s = JSON.parse(dev(['status', '--config', config, '--json']).out);
    assert.deepEqual([s.booted, s.version, s.trial], ['b', '2.0.0', false]);
    const refused = dev(['install', path.join(dir, 'u.sfb'), '--config', config, '--json']);
    assert.equal(JSON.parse(refused.out).error.code, 'SF_ERR_DOWNGRADE');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('the agent on Debian Node 18 takes an update over mosquitto and commits it', { timeout: 120_000 }, async () => {
  const broker = await startMosquitto();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-node18-agent-'));
  assert.equal(dev(['keygen', '--out', path.join(dir, 'keys')]).code, 0);
  const config = await createSimDevice({ dir: path.join(dir, 'dev'), deviceId: 'n18-agent', brokerUrl: broker.url, trustedKeys: [path.join(dir, 'keys/public.pem')], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: 16 << 20, healthWindowSeconds: 10 });
  const child = spawn(node18, [BUNDLE, 'sim-device', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const op = await mqtt.connectAsync(broker.url, { clientId: 'n18-op' });
  try {
    await fsp.writeFile(path.join(dir, 'rootfs.img'), simRootfsImage({ version: '2.0.0', kernel: 'ok', worker: {} }, 8 << 20));
    const b = dev(['bundle', 'create', '--board', 'host-sim', '--version', '2.0.0', '--payload', `rootfs=${path.join(dir, 'rootfs.img')}`, '--key', path.join(dir, 'keys/private.pem'), '-o', path.join(dir, 'u.sfb')]);
    assert.equal(b.code, 0, b.err);
    const r = await publishBundle({ client: op, bundle: path.join(dir, 'u.sfb'), devices: ['n18-agent'], wait: true, timeoutMs: 90_000 });
    assert.equal(r.outcomes.get('n18-agent'), 'committed', log);
  } finally {
    await op.endAsync();
    await stopChild(child);
    await broker.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
