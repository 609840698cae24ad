// Application and config updates through the agent over MQTT: no reboot, the worker swapped
// on the same socket while requests keep flowing; a new worker that never gets ready leaves
// the old one serving; a config update reaches the running worker with SIGHUP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import mqtt from 'mqtt';
import { createWriteStream } from 'node:fs';
import { startAedes, freePort } from '../transfer/support.js';
import { createSimDevice } from '../../src/simulator/device.js';
import { runSimDevice } from '../../src/simulator/run.js';
import { sampleAppTar } from '../../src/simulator/app.js';
import { createBundle } from '../../src/bundle/create.js';
import { generateSigningKeyPair, writeKeyPair } from '../../src/crypto/keys.js';
import { publishBundle } from '../../src/operator/publish.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { openBootEnv } from '../../src/bootenv/index.js';

function get(port: number): Promise<{ version: string; greeting: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (ok(v)) return v;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('app and config updates over MQTT: zero failed requests, a bad worker never takes over', { timeout: 120_000 }, async () => {
  const broker = await startAedes();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-app-'));
  const pair = generateSigningKeyPair();
  const keys = await writeKeyPair(path.join(dir, 'keys'), pair);
  const port = await freePort();
  const file = await createSimDevice({
    dir: path.join(dir, 'dev'),
    deviceId: 'app-dev',
    brokerUrl: broker.url,
    trustedKeys: [keys.publicFile],
    base: { version: '1.0.0', kernel: 'ok', worker: {} },
    slotSize: 8 * 1024 * 1024,
    app: { version: '1.0.0' },
    httpPort: port,
    healthWindowSeconds: 3,
  });
  // Declare the worker's own config file, so config-only updates have somewhere to go.
  const cfg = JSON.parse(await fsp.readFile(file, 'utf8'));
  cfg.worker.configFile = 'worker-config.json';
  await fsp.writeFile(file, JSON.stringify(cfg));
  const abort = new AbortController();
  const logs: string[] = [];
  const running = runSimDevice(file, { signal: abort.signal, log: (l) => logs.push(l) });
  const op = await mqtt.connectAsync(broker.url, { clientId: 'app-op' });
  let requests = 0;
  const failures: string[] = [];
  let loadOn = true;
  const load = (async () => {
    await until(() => get(port), () => true, 20_000);
    while (loadOn) {
      try {
        await get(port);
        requests++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  const bundleOf = async (version: string, payloads: Record<string, Buffer>): Promise<string> => {
    const files = [];
    for (const [name, body] of Object.entries(payloads)) {
      const f = path.join(dir, `${name}-${version}`);
      await fsp.writeFile(f, body);
      files.push({ name, file: f });
    }
    const out = path.join(dir, `app-${version}.sfb`);
    await createBundle({ boards: ['host-sim'], version, payloads: files, privateKey: pair.privateKey }, createWriteStream(out));
    return out;
  };
  try {
    assert.equal((await until(() => get(port), () => true, 20_000)).version, '1.0.0');
    const envBefore = await openBootEnv(loadDeviceConfig(file).env).read();

    const good = await publishBundle({ client: op, bundle: await bundleOf('2.0.0', { app: await sampleAppTar('2.0.0') }), devices: ['app-dev'], wait: true, timeoutMs: 60_000 });
    assert.equal(good.outcomes.get('app-dev'), 'committed', logs.join('\n'));
    assert.equal((await get(port)).version, '2.0.0');

    const bad = await publishBundle({ client: op, bundle: await bundleOf('3.0.0', { app: await sampleAppTar('3.0.0', { SAMPLE_NEVER_READY: '1' }) }), devices: ['app-dev'], wait: true, timeoutMs: 60_000 });
    assert.equal(bad.outcomes.get('app-dev'), 'rolled-back', logs.join('\n'));
    assert.equal((await get(port)).version, '2.0.0', 'the old worker kept serving');

    const conf = await publishBundle({ client: op, bundle: await bundleOf('3.1.0', { config: Buffer.from(JSON.stringify({ greeting: 'hej' })) }), devices: ['app-dev'], wait: true, timeoutMs: 60_000 });
    assert.equal(conf.outcomes.get('app-dev'), 'committed', logs.join('\n'));
    const after = await until(() => get(port), (r) => r.greeting === 'hej', 10_000);
    assert.equal(after.version, '2.0.0', 'a config update does not replace the worker');

    loadOn = false;
    await load;
    assert.deepEqual(failures, [], `failed requests during app updates (${requests} served)`);
    assert.ok(requests > 50, `only ${requests} requests were served`);
    assert.deepEqual(await openBootEnv(loadDeviceConfig(file).env).read(), envBefore, 'app updates never touch the bootloader env');
    assert.ok(!logs.some((l) => l === 'reboot'), 'no reboot for app updates');
  } finally {
    loadOn = false;
    await load.catch(() => undefined);
    await op.endAsync();
    abort.abort();
    await running;
    await broker.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

/** Processes whose command line runs a worker out of `appRoot`. */
async function workersUnder(appRoot: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = (await fsp.readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      const stat = await fsp.readFile(`/proc/${name}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue; // zombies serve nothing
      if (cmd.some((a) => a.startsWith(appRoot) && a.endsWith('server.mjs'))) pids.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

test('an agent killed mid-swap comes back with exactly one worker, on a verified app slot', { timeout: 120_000 }, async () => {
  const { spawnDevice, stopChild, watchStatus, deviceLog } = await import('./fleet.js');
  const broker = await startAedes();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-app-kill-'));
  const pair = generateSigningKeyPair();
  const keys = await writeKeyPair(path.join(dir, 'keys'), pair);
  const port = await freePort();
  const file = await createSimDevice({
    dir: path.join(dir, 'dev'),
    deviceId: 'app-kill',
    brokerUrl: broker.url,
    trustedKeys: [keys.publicFile],
    base: { version: '1.0.0', kernel: 'ok', worker: {} },
    slotSize: 8 * 1024 * 1024,
    app: { version: '1.0.0' },
    httpPort: port,
    healthWindowSeconds: 20,
  });
  const appRoot = path.join(dir, 'dev', 'data', 'app');
  const watch = await watchStatus(broker.url);
  const op = await mqtt.connectAsync(broker.url, { clientId: 'app-kill-op' });
  let child = spawnDevice(file);
  try {
    await until(() => get(port), (r) => r.version === '1.0.0', 30_000);
    const tarFile = path.join(dir, 'app-2.0.0.tar');
    await fsp.writeFile(tarFile, await sampleAppTar('2.0.0', { SAMPLE_READY_DELAY_MS: '3000' }));
    const bundle = path.join(dir, 'app-2.0.0.sfb');
    await createBundle({ boards: ['host-sim'], version: '2.0.0', payloads: [{ name: 'app', file: tarFile }], privateKey: pair.privateKey }, createWriteStream(bundle));
    const publishing = publishBundle({ client: op, bundle, devices: ['app-kill'], wait: true, timeoutMs: 90_000 });
    // The new worker is starting (3 s to ready) beside the old one: kill the watcher now.
    await watch.waitFor((m) => m.get('app-kill')?.state === 'install', 30_000, 'the swap to begin');
    await until(() => workersUnder(appRoot), (p) => p.length === 2, 10_000);
    await stopChild(child, 'SIGKILL');
    child = spawnDevice(file);
    const r = await publishing;
    assert.equal(r.outcomes.get('app-kill'), 'committed', await deviceLog(file));
    const served = await until(() => get(port), (x) => x.version === '2.0.0', 20_000);
    // Leftover workers of the killed agent drain and leave (their watcher pipe closed) or are reaped.
    const pids = await until(() => workersUnder(appRoot), (p) => p.length === 1, 20_000);
    assert.deepEqual(pids, [served.pid]);
    const current = await fsp.readlink(path.join(appRoot, 'current'));
    const info = JSON.parse(await fsp.readFile(path.join(appRoot, `${current}.json`), 'utf8'));
    assert.equal(info.version, '2.0.0', 'current names a completely installed slot');
  } finally {
    await stopChild(child);
    await watch.close();
    await op.endAsync();
    await broker.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
