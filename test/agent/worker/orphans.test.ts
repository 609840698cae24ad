// A watcher killed with SIGKILL: its sample worker notices the end of the heartbeat channel and
// drains away by itself, and a new watcher with the same pid file stops any worker that did not
// (here: a shell worker mid-swap), then serves with exactly one worker on the same port.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '../../../src/agent/worker/supervisor.js';
import { childrenOf, get, isAlive, makeAppDir, tempDir, workerConfig } from './helpers.js';

const AGENT = fileURLToPath(new URL('./fixtures/agent-child.ts', import.meta.url));

interface Report {
  phase: string;
  port: number;
  pids: number[];
}

async function runAgent(opts: object): Promise<{ report: Report; kill: () => Promise<void> }> {
  const child = fork(AGENT, [JSON.stringify(opts)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const report = await new Promise<Report>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Report));
    child.once('exit', (code) => reject(new Error(`agent child exited with ${code} before reporting`)));
  });
  return {
    report,
    kill: async () => {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** These pids are no longer our children once the watcher died, so no exit event reaches us. */
async function gone(pids: number[], withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (pids.some(isAlive) && Date.now() < deadline) await delay(25);
  return !pids.some(isAlive);
}

test('a sample worker whose watcher was killed drains and exits by itself', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const app = makeAppDir(tmp.dir, 'a', '1.0.0');
  const agent = await runAgent({ config: workerConfig(), pidFile: join(tmp.dir, 'worker.pids'), appDir: app });
  assert.equal(agent.report.pids.length, 1);
  await agent.kill();
  assert.equal(await gone(agent.report.pids, 5000), true);
});

test('after kill -9 mid-swap, a new watcher stops both leftovers and serves with one worker', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const pidFile = join(tmp.dir, 'worker.pids');
  // Shell workers ignore the channel's end, like many real workers would.
  const ready = ['/bin/sh', '-c', 'echo READY=1 >&$SLOTFLIP_NOTIFY_FD; exec sleep 60'];
  const never = ['/bin/sh', '-c', 'exec sleep 60'];
  const agent = await runAgent({ config: workerConfig({ command: ready }), pidFile, swapTo: { command: never } });
  assert.equal(agent.report.phase, 'swapping');
  assert.equal(agent.report.pids.length, 2);
  await agent.kill();
  await delay(100);
  assert.equal(agent.report.pids.every(isAlive), true, 'both workers outlived their watcher');

  const app = makeAppDir(tmp.dir, 'a', '1.0.0');
  const port = agent.report.port;
  const sup = new Supervisor({ config: workerConfig({ sockets: [{ name: 'http', tcp: `127.0.0.1:${port}` }] }), pidFile, appDir: app, output: 'ignore' });
  const reaped = new Promise<number[]>((r) => sup.once('reaped', r));
  try {
    await sup.start(); // would fail with SF_ERR_WORKER_SOCKET if a leftover still held the port
    assert.deepEqual((await reaped).sort(), [...agent.report.pids].sort());
    assert.equal(agent.report.pids.some(isAlive), false);
    await sup.waitHealthy(5000);
    assert.equal((await get(port)).json?.pid, sup.current?.pid);
    assert.equal(sup.workers.length, 1);
  } finally {
    await sup.stop();
  }
  assert.deepEqual(childrenOf(), []);
});
