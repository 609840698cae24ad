// The sysv init script run for real under a temp directory, with a fake agent (a shell
// script that records start, HUP and TERM): start, status, double start, reload, respawn
// after a SIGKILL, stop, and no process left behind. Once with dash and Debian's
// start-stop-daemon, once with BusyBox's applets (sh, start-stop-daemon, kill, sleep...).
// The fake agent's own child (a sleep) stands in for nothing the script must reap: the real
// agent stops a predecessor's detached workers itself (DATA/worker.pids); cleanup kills it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderSysvScript } from '../../src/service/sysv.js';
import { alive, requireTool, run, waitFor } from './tools.js';

const FAKE_AGENT = `#!/bin/sh
# argv: agent --config CONFIG; events go next to the config
EV="$(dirname "$3")/events"
echo "start $$" >> "$EV"
trap 'echo "hup $$" >> "$EV"' HUP
trap 'echo "term $$" >> "$EV"; kill $s 2>/dev/null; exit 0' TERM
sleep 1000 &
s=$!
echo "child $s" >> "$EV"
while :; do wait $s; done
`;

async function events(dir: string): Promise<string[]> {
  return (await fsp.readFile(path.join(dir, 'events'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

async function pidIn(file: string): Promise<number | undefined> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text.trim() ? Number(text.trim()) : undefined;
}

async function busyboxPath(dir: string): Promise<string> {
  const busybox = requireTool('busybox', 'busybox');
  const bin = path.join(dir, 'bb');
  await fsp.mkdir(bin);
  for (const applet of ['sh', 'start-stop-daemon', 'setsid', 'kill', 'sleep', 'cat', 'rm', 'mkdir', 'dirname', 'basename', 'date']) {
    await fsp.symlink(busybox, path.join(bin, applet));
  }
  return bin;
}

for (const flavour of ['dash', 'busybox'] as const) {
  test(`sysv script (${flavour}): start, status, reload, respawn, stop`, async (t) => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-sysv-'));
    const runDir = path.join(dir, 'run');
    let shell: string;
    let env: NodeJS.ProcessEnv;
    if (flavour === 'dash') {
      shell = requireTool('dash', 'dash');
      requireTool('start-stop-daemon', 'dpkg');
      env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
    } else {
      const bin = await busyboxPath(dir);
      shell = path.join(bin, 'sh');
      env = { PATH: bin };
    }
    const agent = path.join(dir, 'fake-agent.sh');
    await fsp.writeFile(agent, FAKE_AGENT);
    const script = path.join(dir, 'slotflip-agent');
    await fsp.writeFile(
      script,
      renderSysvScript(
        { node: '/bin/sh', nodeFlags: [], bin: agent, config: path.join(dir, 'device.json') },
        { runDir, logFile: path.join(dir, 'agent.log'), respawnDelaySec: 1, stopTimeoutSec: 10 },
      ),
      { mode: 0o755 },
    );
    const rc = (verb: string) => run(shell, [script, verb], { env });
    t.after(async () => {
      // whatever the outcome, leave no supervisor or fake agent behind
      for (const f of ['supervisor.pid', 'agent.pid']) {
        const pid = await pidIn(path.join(runDir, f));
        if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      }
      for (const line of await events(dir)) {
        const pid = Number(line.split(' ')[1]);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      await fsp.rm(dir, { recursive: true, force: true });
    });

    assert.equal((await rc('status')).code, 3, 'status before start: not running (LSB 3)');
    const started = await rc('start');
    assert.equal(started.code, 0, started.err);
    const first = await waitFor('the agent to start', async () => (await events(dir)).find((l) => l.startsWith('start ')));
    const p1 = Number(first.split(' ')[1]);
    const supervisor = await waitFor('the supervisor pid file', () => pidIn(path.join(runDir, 'supervisor.pid')));
    assert.ok(alive(supervisor));
    await waitFor('the agent pid file', async () => ((await pidIn(path.join(runDir, 'agent.pid'))) === p1 ? true : undefined));
    const status = await rc('status');
    assert.equal(status.code, 0);
    assert.match(status.out, new RegExp(`running \\(agent pid ${p1}, supervisor pid ${supervisor}\\)`));

    assert.match((await rc('start')).out, /already running/);

    assert.equal((await rc('reload')).code, 0);
    await waitFor('the agent to get SIGHUP', async () => ((await events(dir)).includes(`hup ${p1}`) ? true : undefined));

    process.kill(p1, 'SIGKILL');
    const second = await waitFor('the supervisor to respawn the agent', async () => (await events(dir)).filter((l) => l.startsWith('start '))[1]);
    const p2 = Number(second.split(' ')[1]);
    assert.notEqual(p2, p1);
    assert.match(await fsp.readFile(path.join(dir, 'agent.log'), 'utf8'), /agent exited with status 137, starting it again in 1s/);

    const stopped = await rc('stop');
    assert.equal(stopped.code, 0, stopped.err);
    assert.ok((await events(dir)).includes(`term ${p2}`), 'stop sends SIGTERM to the agent');
    assert.equal(alive(p2), false);
    assert.equal(alive(supervisor), false);
    assert.deepEqual(await fsp.readdir(runDir), [], 'pid files removed');
    assert.equal((await rc('status')).code, 3);
    assert.deepEqual((await events(dir)).filter((l) => l.startsWith('start ')).length, 2, 'no extra start after stop');
  });
}
