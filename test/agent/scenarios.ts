// The agent's update-loop scenarios, run against any broker: aedes in-process
// (update-loop.test.ts) and a real mosquitto (update-loop.system.test.ts).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { publishBundle } from '../../src/operator/publish.js';
import { DEFAULT_CHUNK_SIZE } from '../../src/bundle/manifest.js';
import { signCommand } from '../../src/agent/commands.js';
import { deviceTopics } from '../../src/transfer/topics.js';
import { readFileSync } from 'node:fs';
import type { Broker } from '../transfer/support.js';
import { deviceEnv, deviceState, makeBundle, makeFleet, runInProcess, spawnDevice, stopChild, watchStatus, type Fleet } from './fleet.js';

async function operator(url: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(url, { clientId: `sf-test-op-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 200 });
}

export function updateLoopScenarios(brokerName: string, startBroker: () => Promise<Broker>): void {
  describe(`update loop over ${brokerName}`, () => {
    let broker: Broker;
    before(async () => {
      broker = await startBroker();
    });
    after(async () => {
      await broker.close();
    });

    test('two devices on one release stream commit a good update', async () => {
      const fleet = await makeFleet(broker.url, ['s1', 's2'], { group: 'g' });
      const run = runInProcess(fleet);
      const op = await operator(broker.url);
      try {
        const bundle = await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} }, { size: 32 * 1024 * 1024 });
        const r = await publishBundle({ client: op, bundle, group: 'g', wait: true, timeoutMs: 60_000 });
        assert.deepEqual(Object.fromEntries(r.outcomes), { s1: 'committed', s2: 'committed' }, run.logs.join('\n'));
        // One shared stream: the 8 MiB of non-zero data (16 chunks) travel less than once per
        // device (a device joining a few ms late gets the chunks it missed again).
        assert.ok(r.bytesSent < 2 * 8 * 1024 * 1024, `publisher sent ${r.bytesSent} bytes for 8 MiB of data and two devices`);
        for (const id of ['s1', 's2']) {
          const env = await deviceEnv(fleet, id);
          assert.equal(env.get('slotflip_slot'), 'b');
          assert.equal(env.get('upgrade_available'), '0');
          const { state, journal } = await deviceState(fleet, id);
          assert.equal(state.committed, 'b');
          assert.equal(state.slots.b?.version, '2.0.0');
          assert.equal(journal.state, 'idle');
        }
      } finally {
        await op.endAsync();
        await run.stop();
        await fleet.stop();
      }
    });

    for (const [story, worker] of [
      ['a worker that crashes after it said READY', { SAMPLE_CRASH_AFTER_READY_MS: '200' }],
      ['a worker that crashes at start', { SAMPLE_CRASH_AFTER_MS: '0' }],
      ['a worker that never reports healthy', { SAMPLE_NEVER_READY: '1' }],
    ] as const) {
      test(`${story} in the trial boot is rolled back`, async () => {
        const fleet = await makeFleet(broker.url, ['d1']);
        const run = runInProcess(fleet);
        const op = await operator(broker.url);
        try {
          const bundle = await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: { ...worker } });
          const r = await publishBundle({ client: op, bundle, devices: ['d1'], wait: true, timeoutMs: 60_000 });
          assert.equal(r.outcomes.get('d1'), 'rolled-back', run.logs.join('\n'));
          const env = await deviceEnv(fleet, 'd1');
          assert.equal(env.get('slotflip_slot'), 'a');
          assert.equal(env.get('upgrade_available'), '0');
          const { journal } = await deviceState(fleet, 'd1');
          assert.equal(journal.lastError?.code, 'SF_ERR_WORKER_UNHEALTHY');
          assert.ok(journal.rejected.includes(r.releaseId), 'the failed release is not retried');
        } finally {
          await op.endAsync();
          await run.stop();
          await fleet.stop();
        }
      });
    }

    test('a kernel that never comes up: the bootloader falls back and the agent reports it', async () => {
      const fleet = await makeFleet(broker.url, ['d1']);
      const run = runInProcess(fleet);
      const op = await operator(broker.url);
      try {
        const bundle = await makeBundle(fleet, { version: '2.0.0', kernel: 'panic', worker: {} });
        const r = await publishBundle({ client: op, bundle, devices: ['d1'], wait: true, timeoutMs: 60_000 });
        assert.equal(r.outcomes.get('d1'), 'fallback', run.logs.join('\n'));
        assert.ok(run.logs.some((l) => /boot limit passed/.test(l)));
        const { journal } = await deviceState(fleet, 'd1');
        assert.equal(journal.lastError?.code, 'SF_ERR_BOOT_FALLBACK');
      } finally {
        await op.endAsync();
        await run.stop();
        await fleet.stop();
      }
    });

    test('refusals change nothing: wrong board, older version, untrusted key', async () => {
      const fleet = await makeFleet(broker.url, ['d1']);
      const run = runInProcess(fleet);
      const op = await operator(broker.url);
      const other = await makeFleet(broker.url, []);
      try {
        const envBefore = await deviceEnv(fleet, 'd1');
        const cases = [
          { code: 'SF_ERR_WRONG_BOARD', bundle: await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} }, { board: 'other-board' }), board: 'other-board' },
          { code: 'SF_ERR_DOWNGRADE', bundle: await makeBundle(fleet, { version: '0.9.0', kernel: 'ok', worker: {} }) },
          { code: 'SF_ERR_UNTRUSTED_KEY', bundle: await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} }, { privateKey: other.privateKey }) },
        ];
        for (const c of cases) {
          if (c.board) continue; // a bundle for another board is not even announced to this one
          const r = await publishBundle({ client: op, bundle: c.bundle, devices: ['d1'], wait: true, timeoutMs: 20_000 });
          assert.equal(r.outcomes.get('d1'), 'failed', run.logs.join('\n'));
          const { journal, state } = await deviceState(fleet, 'd1');
          assert.equal(journal.lastError?.code, c.code);
          assert.equal(state.slots.b, null);
          assert.deepEqual(await deviceEnv(fleet, 'd1'), envBefore);
        }
      } finally {
        await op.endAsync();
        await run.stop();
        await fleet.stop();
        await other.stop();
      }
    });

    test('operator rollback: unsigned and replayed commands are refused, a signed one rolls back', async () => {
      const fleet = await makeFleet(broker.url, ['d1']);
      const run = runInProcess(fleet);
      const op = await operator(broker.url);
      const watch = await watchStatus(broker.url);
      try {
        const bundle = await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} });
        const r = await publishBundle({ client: op, bundle, devices: ['d1'], wait: true, timeoutMs: 60_000 });
        assert.equal(r.outcomes.get('d1'), 'committed', run.logs.join('\n'));
        const topic = deviceTopics(undefined, 'd1').commands;
        const signed = signCommand({ type: 'rollback', deviceId: 'd1' }, readFileSync(fleet.privateKey));
        const unsigned = Buffer.from(JSON.stringify({ ...JSON.parse(signed.toString()), signature: Buffer.alloc(64).toString('base64') }));
        await op.publishAsync(topic, unsigned, { qos: 1 });
        await watch.waitFor((m) => m.get('d1')?.lastError?.code === 'SF_ERR_SIGNATURE', 10_000, 'the unsigned command to be refused');
        assert.equal((await deviceEnv(fleet, 'd1')).get('slotflip_slot'), 'b');
        await op.publishAsync(topic, signed, { qos: 1 });
        await watch.waitFor((m) => m.get('d1')?.slot === 'a' && m.get('d1')?.lastResult?.result === 'rolled-back', 20_000, 'the signed rollback');
        assert.equal((await deviceEnv(fleet, 'd1')).get('slotflip_slot'), 'a');
        await op.publishAsync(topic, signed, { qos: 1 });
        await watch.waitFor((m) => m.get('d1')?.lastError?.code === 'SF_ERR_COMMAND_REPLAY', 10_000, 'the replayed command to be refused');
        assert.equal((await deviceEnv(fleet, 'd1')).get('slotflip_slot'), 'a');
      } finally {
        await watch.close();
        await op.endAsync();
        await run.stop();
        await fleet.stop();
      }
    });

    test('a signed rollback with no verified slot to go back to is reported, and changes nothing', async () => {
      const fleet = await makeFleet(broker.url, ['nr1']);
      const run = runInProcess(fleet);
      const op = await operator(broker.url);
      const watch = await watchStatus(broker.url);
      try {
        await watch.waitFor((m) => m.get('nr1')?.online === true, 20_000, 'the device to come online');
        const before = await deviceEnv(fleet, 'nr1');
        await op.publishAsync(deviceTopics(undefined, 'nr1').commands, signCommand({ type: 'rollback', deviceId: 'nr1' }, readFileSync(fleet.privateKey)), { qos: 1 });
        await watch.waitFor((m) => m.get('nr1')?.lastError?.code === 'SF_ERR_SLOT_STATE', 10_000, 'the failed rollback to be reported');
        assert.deepEqual(await deviceEnv(fleet, 'nr1'), before);
      } finally {
        await watch.close();
        await op.endAsync();
        await run.stop();
        await fleet.stop();
      }
    });

    test('an agent killed mid-download resumes without fetching again what it wrote', async () => {
      const fleet = await makeFleet(broker.url, ['d1'], { slotSize: 256 * 1024 * 1024 });
      const op = await operator(broker.url);
      const watch = await watchStatus(broker.url);
      let child = spawnDevice(fleet.devices.get('d1')!);
      try {
        // Random-looking data all the way: 48 MiB, nothing zero.
        const size = 48 * 1024 * 1024;
        const bundle = await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} }, { size: size * 4 });
        await watch.waitFor((m) => m.get('d1')?.online === true, 20_000, 'the device to come online');
        const publishing = publishBundle({ client: op, bundle, devices: ['d1'], wait: true, timeoutMs: 120_000 });
        await watch.waitFor((m) => (m.get('d1')?.progress?.bytes ?? 0) > size / 2, 60_000, 'half the download');
        const durableAtKill = watch.latest.get('d1')!.progress!.bytes;
        await stopChild(child, 'SIGKILL');
        watch.latest.delete('d1');
        child = spawnDevice(fleet.devices.get('d1')!);
        // The restarted agent's first progress report already counts what was durable at the kill.
        await watch.waitFor((m) => m.get('d1')?.online === true && m.get('d1')?.progress != null, 60_000, 'progress after the restart');
        const firstAfter = watch.latest.get('d1')!.progress!.bytes;
        assert.ok(firstAfter >= durableAtKill, `restart began at ${firstAfter} bytes, ${durableAtKill} were durable at the kill`);
        const r = await publishing;
        assert.equal(r.outcomes.get('d1'), 'committed');
        // Everything sent: the image once, plus what was in flight or unsynced at the kill
        // (publisher window 16 MiB + the device's 16-chunk sync window), never the image twice.
        assert.ok(r.bytesSent <= size + 16 * 1024 * 1024 + 16 * DEFAULT_CHUNK_SIZE, `publisher sent ${r.bytesSent} for a ${size}-byte image`);
      } finally {
        await stopChild(child);
        await watch.close();
        await op.endAsync();
        await fleet.stop();
      }
    });
  });
}
