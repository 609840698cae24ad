// Zero-downtime swaps: the happy path, every way a candidate can fail (never ready, crash
// before ready, crash or lost heartbeat during the trial) with the old worker still serving,
// one swap at a time, and a separate process hammering HTTP across 20 swaps with no failure.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../../../src/agent/worker/supervisor.js';
import { childrenOf, get, isAlive, makeAppDir, tempDir, workerConfig } from './helpers.js';

const LOAD_CLIENT = fileURLToPath(new URL('./fixtures/load-client.mjs', import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  assert.deepEqual(childrenOf(), [], 'no child process is left behind');
});

async function running(over: Parameters<typeof workerConfig>[0] = {}) {
  const t = tempDir();
  const a = makeAppDir(t.dir, 'a', '1.0.0');
  const sup = new Supervisor({ config: workerConfig(over), appDir: a, output: 'ignore' });
  cleanups.push(t.cleanup, () => sup.stop());
  await sup.start();
  await sup.waitHealthy(5000);
  return { sup, dir: t.dir, port: sup.sockets[0]!.port!, oldPid: sup.current!.pid! };
}

test('swap starts the new worker on the same socket and retires the old one', async () => {
  const { sup, dir, port, oldPid } = await running();
  const b = makeAppDir(dir, 'b', '2.0.0');
  const result = await sup.swap({ appDir: b });
  assert.equal(result.previousPid, oldPid);
  assert.deepEqual(result.previousExit, { code: 0, signal: null }, 'the old worker drained and exited by itself');
  assert.equal(isAlive(oldPid), false);
  const r = await get(port);
  assert.equal(r.json?.version, '2.0.0');
  assert.equal(r.json?.pid, result.pid);
  assert.equal(sup.current?.appDir, b);
  assert.equal(sup.workers.length, 1);
});

test('a request in flight on the old worker is finished before it exits (drain)', async () => {
  const t = tempDir();
  const slow = makeAppDir(t.dir, 'slow', '1.0.0', { SAMPLE_DELAY_MS: '800' });
  const sup = new Supervisor({ config: workerConfig(), appDir: slow, output: 'ignore' });
  cleanups.push(t.cleanup, () => sup.stop());
  await sup.start();
  await sup.waitHealthy(5000);
  const oldPid = sup.current!.pid;
  const inFlight = get(sup.sockets[0]!.port!); // only the old worker is accepting now
  const result = await sup.swap({ appDir: makeAppDir(t.dir, 'b', '2.0.0') });
  const r = await inFlight;
  assert.deepEqual([r.status, r.json?.version, r.json?.pid], [200, '1.0.0', oldPid]);
  assert.deepEqual(result.previousExit, { code: 0, signal: null });
  assert.ok(result.drainMs > 300, `the old worker drained for ${result.drainMs} ms`);
});

test('a never-ready candidate is stopped after the health window; the old worker keeps serving', async () => {
  const { sup, dir, port, oldPid } = await running();
  const bad = makeAppDir(dir, 'b', '2.0.0', { SAMPLE_NEVER_READY: '1' });
  const spawned: number[] = [];
  sup.on('spawn', (e: { pid: number }) => spawned.push(e.pid));
  await assert.rejects(sup.swap({ appDir: bad }, { healthWindowMs: 300 }), { code: 'SF_ERR_WORKER_UNHEALTHY', reason: 'ready-timeout' });
  assert.equal(isAlive(spawned[0]!), false, 'the candidate is gone');
  assert.equal(sup.current?.pid, oldPid);
  assert.equal((await get(port)).json?.version, '1.0.0');
});

test('a candidate that crashes before it is ready is refused with reason "exited"', async () => {
  const { sup, dir, port, oldPid } = await running();
  const bad = makeAppDir(dir, 'b', '2.0.0', { SAMPLE_CRASH_AFTER_MS: '0' });
  await assert.rejects(sup.swap({ appDir: bad }), (err: { code: string; reason: string; details: { code: number } }) => {
    assert.deepEqual([err.code, err.reason, err.details.code], ['SF_ERR_WORKER_UNHEALTHY', 'exited', 70]);
    return true;
  });
  assert.equal(sup.current?.pid, oldPid);
  assert.equal((await get(port)).json?.version, '1.0.0');
});

test('a candidate that crashes during its trial period is refused; the old one was never stopped', async () => {
  const { sup, dir, port, oldPid } = await running();
  const bad = makeAppDir(dir, 'b', '2.0.0', { SAMPLE_CRASH_AFTER_READY_MS: '100' });
  await assert.rejects(sup.swap({ appDir: bad }, { trialMs: 2000 }), { code: 'SF_ERR_WORKER_UNHEALTHY', reason: 'exited' });
  assert.equal(sup.current?.pid, oldPid);
  assert.equal(isAlive(oldPid), true);
  assert.equal((await get(port)).json?.version, '1.0.0');
});

test('a candidate that stops heart-beating during its trial is refused', async () => {
  const { sup, dir, oldPid } = await running({ heartbeatTimeoutSeconds: 0.6 });
  const bad = makeAppDir(dir, 'b', '2.0.0', { SAMPLE_NO_WATCHDOG: '1' });
  await assert.rejects(sup.swap({ appDir: bad }, { trialMs: 3000 }), { code: 'SF_ERR_WORKER_UNHEALTHY', reason: 'heartbeat-timeout' });
  assert.equal(sup.current?.pid, oldPid);
});

test('a second swap while one runs is refused with SF_ERR_WORKER_BUSY', async () => {
  const { sup, dir, port } = await running();
  const b = makeAppDir(dir, 'b', '2.0.0', { SAMPLE_READY_DELAY_MS: '200' });
  const c = makeAppDir(dir, 'c', '3.0.0');
  const first = sup.swap({ appDir: b });
  assert.equal(sup.swapInProgress, true);
  await assert.rejects(sup.swap({ appDir: c }), { code: 'SF_ERR_WORKER_BUSY' });
  await first;
  assert.equal((await get(port)).json?.version, '2.0.0');
  await sup.swap({ appDir: c }); // and once it is done, the next one is accepted
  assert.equal((await get(port)).json?.version, '3.0.0');
});

test('stop during a swap stops both workers and the swap is refused with SF_ERR_WORKER_STATE', async () => {
  const { sup, dir } = await running();
  const b = makeAppDir(dir, 'b', '2.0.0', { SAMPLE_NEVER_READY: '1' });
  const swapping = sup.swap({ appDir: b });
  const refused = assert.rejects(swapping, { code: 'SF_ERR_WORKER_STATE' });
  await sup.stop();
  await refused;
  assert.equal(sup.workers.length, 0);
});

test('load from a separate process across 20 swaps, one never ready: zero failed or refused requests', async () => {
  const { sup, dir, port } = await running({ terminateTimeoutSeconds: 5 });
  const apps = [makeAppDir(dir, 'x', '2.0.0'), makeAppDir(dir, 'y', '3.0.0')];
  const broken = makeAppDir(dir, 'broken', '9.9.9', { SAMPLE_NEVER_READY: '1' });
  const client = fork(LOAD_CLIENT, [String(port), '8'], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(() => {
    if (client.exitCode === null) client.kill('SIGKILL');
  });
  await new Promise((resolve) => client.once('message', resolve)); // 'started'
  const t0 = Date.now();
  let swapped = 0;
  let refusedSwaps = 0;
  for (let i = 0; i < 20; i++) {
    if (i === 10) {
      await assert.rejects(sup.swap({ appDir: broken }, { healthWindowMs: 500 }), { code: 'SF_ERR_WORKER_UNHEALTHY' });
      refusedSwaps++;
    } else {
      await sup.swap({ appDir: apps[i % 2]! });
      swapped++;
    }
  }
  const elapsed = Date.now() - t0;
  const report = await new Promise<{ ok: number; failed: number; refused: number; errors: Record<string, number>; versions: Record<string, number> }>((resolve) => {
    client.on('message', (m: { type: string }) => {
      if (m.type === 'report') resolve(m as never);
    });
    client.send('stop');
  });
  await new Promise((resolve) => (client.exitCode === null ? client.once('exit', resolve) : resolve(null)));
  assert.deepEqual({ failed: report.failed, refused: report.refused, errors: report.errors }, { failed: 0, refused: 0, errors: {} });
  assert.ok(report.ok > 200, `served ${report.ok} requests`);
  assert.deepEqual([swapped, refusedSwaps], [19, 1]);
  assert.ok(elapsed < 30_000, `20 swaps took ${elapsed} ms`);
  assert.ok((report.versions['2.0.0'] ?? 0) > 0 && (report.versions['3.0.0'] ?? 0) > 0);
});
