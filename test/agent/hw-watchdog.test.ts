// The agent's hardware-watchdog feeder: keep-alives by plain write(2), a missing device refused
// (never created), write failures logged once, and the magic 'V' only on a deliberate stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { HardwareWatchdog, type WatchdogFile } from '../../src/agent/hw-watchdog.js';

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('keep-alives go to the device at the interval; a deliberate stop ends with the magic V', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-wdt-'));
  const dev = path.join(dir, 'watchdog');
  fs.writeFileSync(dev, '');
  try {
    const w = await HardwareWatchdog.start(dev, 10, () => assert.fail('no failure expected'));
    await until(() => w.fed >= 4);
    await w.stop();
    const bytes = fs.readFileSync(dev);
    assert.ok(bytes.length >= 5);
    assert.equal(bytes.at(-1), 'V'.charCodeAt(0));
    assert.ok(bytes.subarray(0, -1).every((b) => b === 0), 'keep-alives are single zero bytes');
    const after = bytes.length;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(fs.readFileSync(dev).length, after, 'nothing written after the stop');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('a missing device is refused with SF_ERR_IO and not created', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-wdt-'));
  try {
    const dev = path.join(dir, 'nope');
    await assert.rejects(HardwareWatchdog.start(dev, 10, () => undefined), (err: Error & { code?: string }) => err.code === 'SF_ERR_IO' && /nope/.test(err.message));
    assert.equal(fs.existsSync(dev), false);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('failed keep-alives are logged once per run of failures and feeding resumes', async () => {
  let calls = 0;
  const written: string[] = [];
  const file: WatchdogFile = {
    async write(data) {
      calls++;
      if (calls >= 2 && calls <= 4) throw new Error('EIO');
      written.push(Buffer.from(data).toString('latin1'));
    },
    async close() {},
  };
  const lines: string[] = [];
  const w = await HardwareWatchdog.start('/dev/fake', 5, (l) => lines.push(l), async () => file);
  await until(() => w.fed >= 3);
  await w.stop();
  assert.deepEqual(lines, ['hardware watchdog /dev/fake not fed: EIO', 'hardware watchdog /dev/fake: feeding again']);
  assert.equal(written.at(-1), 'V');
});
