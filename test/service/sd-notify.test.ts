// sd-notify through a fake process seam: which helper arguments each call produces, the
// no-op without NOTIFY_SOCKET, helper failures as typed errors, the watchdog interval rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notifyReady, notifyStopping, notifyWatchdog, watchdogIntervalMs, type NotifySeam } from '../../src/service/sd-notify.js';

interface Call {
  args: string[];
  env: NodeJS.ProcessEnv;
}

function fakeSeam(env: NodeJS.ProcessEnv, fail?: Error): NotifySeam & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    env,
    pid: 4242,
    calls,
    async run(args, childEnv) {
      calls.push({ args, env: childEnv });
      if (fail) throw fail;
    },
  };
}

test('each state goes to systemd-notify speaking for the agent pid, without the barrier', async () => {
  const seam = fakeSeam({ NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/usr/bin', SECRET: 'x' });
  assert.equal(await notifyReady(seam), true);
  assert.equal(await notifyWatchdog(seam), true);
  assert.equal(await notifyStopping(seam), true);
  assert.deepEqual(
    seam.calls.map((c) => c.args),
    [
      ['--no-block', '--pid=4242', 'READY=1'],
      ['--no-block', '--pid=4242', 'WATCHDOG=1'],
      ['--no-block', '--pid=4242', 'STOPPING=1'],
    ],
  );
  // the helper gets the socket and a PATH, nothing else of the agent's environment
  assert.deepEqual(seam.calls[0]!.env, { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/usr/bin' });
});

test('without NOTIFY_SOCKET every call is a no-op that runs nothing', async () => {
  const seam = fakeSeam({ WATCHDOG_USEC: '30000000' });
  assert.equal(await notifyReady(seam), false);
  assert.equal(await notifyWatchdog(seam), false);
  assert.equal(await notifyStopping(seam), false);
  assert.equal(watchdogIntervalMs(seam), undefined);
  assert.deepEqual(seam.calls, []);
});

test('a failing helper is an SF_ERR_SD_NOTIFY error carrying its stderr and the cause', async () => {
  const cause = Object.assign(new Error('Command failed: systemd-notify'), { stderr: 'Failed to notify init system: Connection refused' });
  const seam = fakeSeam({ NOTIFY_SOCKET: '@sf-test' }, cause);
  await assert.rejects(notifyWatchdog(seam), (err: Error & { code: string }) => {
    assert.equal(err.code, 'SF_ERR_SD_NOTIFY');
    assert.match(err.message, /WATCHDOG=1 .*@sf-test.*Connection refused/);
    assert.equal(err.cause, cause);
    return true;
  });
});

test('watchdog interval: half of WATCHDOG_USEC, only when WATCHDOG_PID is unset or ours', () => {
  const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' };
  assert.equal(watchdogIntervalMs(fakeSeam(env)), 15000);
  assert.equal(watchdogIntervalMs(fakeSeam({ ...env, WATCHDOG_PID: '4242' })), 15000);
  assert.equal(watchdogIntervalMs(fakeSeam({ ...env, WATCHDOG_PID: '1' })), undefined, 'inherited from a parent, not for us');
  assert.equal(watchdogIntervalMs(fakeSeam({ ...env, WATCHDOG_USEC: '0' })), undefined);
  assert.equal(watchdogIntervalMs(fakeSeam({ ...env, WATCHDOG_USEC: 'soon' })), undefined);
  assert.equal(watchdogIntervalMs(fakeSeam({ NOTIFY_SOCKET: '/x' })), undefined);
  assert.equal(watchdogIntervalMs(fakeSeam({ ...env, WATCHDOG_USEC: '1500' })), 1);
});
