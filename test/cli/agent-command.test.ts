// `slotflip agent` as a process: SIGHUP reloads a valid config, refuses an invalid one and
// keeps running; SIGTERM stops it cleanly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createSimDevice } from '../../src/simulator/device.js';
import { generateSigningKeyPair, writeKeyPair } from '../../src/crypto/keys.js';

test('SIGHUP reloads the config, an invalid one is refused and the old one kept; SIGTERM stops', { timeout: 60_000 }, async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-agent-cmd-'));
  const keys = await writeKeyPair(path.join(dir, 'keys'), generateSigningKeyPair());
  const file = await createSimDevice({ dir, deviceId: 'hup', trustedKeys: [keys.publicFile], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: 1 << 20, worker: false });
  await fsp.writeFile(path.join(dir, 'booted-slot'), 'a\n');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'agent', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const waitLog = (re: RegExp, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${re} in agent log:\n${log}`)), ms);
      const check = () => {
        if (re.test(log)) {
          clearTimeout(t);
          child.stderr!.off('data', check);
          resolve();
        }
      };
      child.stderr!.on('data', check);
      check();
    });
  child.stderr!.on('data', (d) => (log += d));
  try {
    await waitLog(/agent started/);
    child.kill('SIGHUP');
    await waitLog(/config reloaded/);
    const good = await fsp.readFile(file, 'utf8');
    await fsp.writeFile(file, JSON.stringify({ ...JSON.parse(good), deviceId: 'not valid!' }));
    child.kill('SIGHUP');
    await waitLog(/config reload refused, keeping the old one: SF_ERR_CONFIG/);
    assert.equal(child.exitCode, null, 'the agent keeps running');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, log);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('with a watchdog configured the agent feeds it; SIGTERM disarms it (V), SIGKILL leaves it armed', { timeout: 90_000 }, async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-agent-wdt-'));
  const keys = await writeKeyPair(path.join(dir, 'keys'), generateSigningKeyPair());
  const file = await createSimDevice({ dir, deviceId: 'wdt', trustedKeys: [keys.publicFile], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: 1 << 20, worker: false });
  await fsp.writeFile(path.join(dir, 'booted-slot'), 'a\n');
  const dev = path.join(dir, 'watchdog');
  await fsp.writeFile(dev, '');
  await fsp.writeFile(file, JSON.stringify({ ...JSON.parse(await fsp.readFile(file, 'utf8')), watchdog: { device: dev, intervalSeconds: 0.05 } }));
  try {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await fsp.writeFile(dev, '');
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'agent', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr!.on('data', (d) => (log += d));
      try {
        const end = Date.now() + 30_000;
        while (!/agent started/.test(log) || (await fsp.readFile(dev)).length < 3) {
          assert.ok(Date.now() < end, `no keep-alives:\n${log}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.match(log, /feeding the hardware watchdog .* every 50 ms/);
        child.kill(signal);
        await once(child, 'exit');
        const bytes = await fsp.readFile(dev);
        if (signal === 'SIGTERM') assert.equal(bytes.at(-1), 'V'.charCodeAt(0), 'a clean stop disarms');
        else assert.equal(bytes.at(-1), 0, 'a killed agent leaves the watchdog armed');
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
