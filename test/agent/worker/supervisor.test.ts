// Supervisor: socket passing with the systemd convention, restarts with backoff, the heartbeat
// gate, SIGKILL escalation, and the end-of-test check that no child process was left behind.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Supervisor } from '../../../src/agent/worker/supervisor.js';
import { childrenOf, get, isAlive, makeAppDir, nextEvent, recordingSeam, tempDir, workerConfig } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  assert.deepEqual(childrenOf(), [], 'no child process is left behind');
});

function setup(over: Parameters<typeof workerConfig>[0] = {}, knobs?: Record<string, string>, opts: Partial<ConstructorParameters<typeof Supervisor>[0]> = {}) {
  const t = tempDir();
  const app = makeAppDir(t.dir, 'a', '1.0.0', knobs);
  const rec = recordingSeam();
  const sup = new Supervisor({ config: workerConfig(over), appDir: app, processes: rec.seam, output: 'ignore', ...opts });
  cleanups.push(t.cleanup, () => sup.stop());
  return { sup, rec, dir: t.dir, app };
}

test('the worker serves on the socket the watcher created, with LISTEN_* set for its own pid', async () => {
  const { sup, rec, dir } = setup();
  await sup.start();
  await sup.waitHealthy(5000);
  const port = sup.sockets[0]!.port!;
  assert.ok(port > 0);
  const r = await get(port);
  assert.equal(r.status, 200);
  assert.equal(r.json?.version, '1.0.0');
  assert.equal(r.json?.pid, sup.current?.pid);
  const env = rec.spawns[0]!.env;
  assert.equal(env['LISTEN_FDS'], '1');
  assert.equal(env['LISTEN_FDNAMES'], 'http');
  assert.equal(env['SLOTFLIP_ROLE'], 'worker');
  assert.equal(env['SLOTFLIP_NOTIFY_FD'], '4');
  assert.equal(env['LISTEN_PID'], undefined, 'LISTEN_PID comes from the exec shim, not the parent');
  void dir;
});

test('LISTEN_PID equals the pid of the program that reads it (a shell worker, any language)', async () => {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const out = join(t.dir, 'env.txt');
  const script = `echo "$LISTEN_PID $$ $LISTEN_FDS $LISTEN_FDNAMES $SLOTFLIP_ROLE" > ${out}; echo READY=1 >&$SLOTFLIP_NOTIFY_FD; exec sleep 30`;
  const sup = new Supervisor({
    config: workerConfig({ command: ['/bin/sh', '-c', script], sockets: [{ name: 'web', tcp: '127.0.0.1:0' }, { name: 'admin', unix: join(t.dir, 'admin.sock') }] }),
    output: 'ignore',
  });
  cleanups.push(() => sup.stop());
  await sup.start();
  await sup.waitHealthy(5000);
  const [listenPid, ownPid, fds, names, role] = readFileSync(out, 'utf8').trim().split(' ');
  assert.equal(listenPid, ownPid);
  assert.equal(Number(ownPid), sup.current?.pid);
  assert.deepEqual([fds, names, role], ['2', 'web:admin', 'worker']);
});

test('a connection made before the worker listens waits in the backlog instead of being refused', async () => {
  const { sup } = setup({}, { SAMPLE_READY_DELAY_MS: '400' });
  await sup.start();
  const port = sup.sockets[0]!.port!;
  const r = await get(port); // sent while the worker is still sleeping
  assert.equal(r.status, 200);
  assert.equal(sup.healthy, true);
});

test('a Unix socket from the config is passed too, and its path is removed on stop', async () => {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const sock = join(t.dir, 'run', 'app.sock');
  const { sup } = setup({ sockets: [{ name: 'local', unix: sock }] });
  await sup.start();
  await sup.waitHealthy(5000);
  const r = await get(sock, '/health');
  assert.deepEqual([r.status, r.body], [200, 'ok\n']);
  await sup.stop();
  assert.equal(existsSync(sock), false);
});

test('a socket already in use is refused with SF_ERR_WORKER_SOCKET', async () => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as net.AddressInfo).port;
  const { sup } = setup({ sockets: [{ name: 'http', tcp: `127.0.0.1:${port}` }] });
  await assert.rejects(sup.start(), { code: 'SF_ERR_WORKER_SOCKET' });
});

test('a crashing worker is restarted with exponential backoff up to the maximum', async () => {
  const { sup } = setup({ restartBackoff: { initialMs: 50, maxMs: 300 } }, { SAMPLE_CRASH_AFTER_MS: '0' });
  const delays: number[] = [];
  const fifth = new Promise<void>((resolve) =>
    sup.on('restart-scheduled', (e: { delayMs: number }) => {
      delays.push(e.delayMs);
      if (delays.length === 5) resolve();
    }),
  );
  await sup.start();
  await fifth;
  assert.deepEqual(delays, [50, 100, 200, 300, 300]);
});

test('a worker that stops heart-beating is reported unhealthy and replaced', async () => {
  const { sup } = setup({ heartbeatTimeoutSeconds: 0.3 }, { SAMPLE_NO_WATCHDOG: '1' });
  await sup.start();
  await sup.waitHealthy(5000);
  const first = sup.current!.pid;
  const bad = await nextEvent<{ pid: number; reason: string; role: string }>(sup, 'unhealthy');
  assert.deepEqual([bad.pid, bad.reason, bad.role], [first, 'heartbeat-timeout', 'current']);
  await nextEvent(sup, 'spawn', (e: { generation: number }) => e.generation === 2);
  assert.notEqual(sup.current!.pid, first);
});

test('waitHealthy rejects with SF_ERR_WORKER_UNHEALTHY when the worker never says READY', async () => {
  const { sup } = setup({}, { SAMPLE_NEVER_READY: '1' });
  await sup.start();
  await assert.rejects(sup.waitHealthy(400), { code: 'SF_ERR_WORKER_UNHEALTHY', reason: 'ready-timeout' });
});

test('stop escalates to SIGKILL for a worker that ignores SIGTERM, and leaves nothing running', async () => {
  const { sup, rec } = setup({ terminateTimeoutSeconds: 0.3 }, { SAMPLE_IGNORE_SIGTERM: '1' });
  await sup.start();
  await sup.waitHealthy(5000);
  const pid = sup.current!.pid!;
  const t0 = Date.now();
  await sup.stop();
  assert.ok(Date.now() - t0 >= 250, 'waited for the terminate timeout');
  assert.equal(isAlive(pid), false);
  assert.deepEqual(
    rec.kills.map((k) => [k.pid, k.signal]),
    [
      [pid, 'SIGTERM'],
      [-pid, 'SIGKILL'],
      [-pid, 'SIGKILL'], // the group sweep after exit
    ],
  );
});

test('SIGHUP reaches the current worker, which re-reads its config file', async () => {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const cfg = join(t.dir, 'worker.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(cfg, JSON.stringify({ greeting: 'hi' }));
  const { sup } = setup({ configFile: cfg });
  await sup.start();
  await sup.waitHealthy(5000);
  const port = sup.sockets[0]!.port!;
  assert.equal((await get(port)).json?.greeting, 'hello');
  writeFileSync(cfg, JSON.stringify({ greeting: 'bonjour' }));
  const reloaded = nextEvent<{ text: string }>(sup, 'status', (e) => e.text.startsWith('reloaded'));
  assert.equal(sup.reload(), true);
  await reloaded;
  assert.equal((await get(port)).json?.greeting, 'bonjour');
});

test('start twice is refused with SF_ERR_WORKER_STATE', async () => {
  const { sup } = setup();
  await sup.start();
  await assert.rejects(sup.start(), { code: 'SF_ERR_WORKER_STATE' });
});

test('a command that uses {app} without an app folder is refused with SF_ERR_CONFIG', () => {
  assert.throws(() => new Supervisor({ config: workerConfig(), output: 'ignore' }), { code: 'SF_ERR_CONFIG' });
});
