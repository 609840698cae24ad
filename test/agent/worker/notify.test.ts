// The heartbeat channel's line parser and the environment a worker is started with.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NOTIFY_LINE, NotifyParser, type NotifyMessage } from '../../../src/agent/worker/notify.js';
import { workerEnv } from '../../../src/agent/worker/worker-process.js';

function parse(chunks: string[], end = true): string[] {
  const got: NotifyMessage[] = [];
  const p = new NotifyParser((m) => got.push(m));
  for (const c of chunks) p.push(Buffer.from(c));
  if (end) p.end();
  return got.map((m) => `${m.key}=${m.value}`);
}

test('lines split across writes, CRLF, and a last line without newline are all read', () => {
  assert.deepEqual(parse(['REA', 'DY=1\nWATCH', 'DOG=1\r\nSTATUS=a=b c\n', 'STOPPING=1']), ['READY=1', 'WATCHDOG=1', 'STATUS=a=b c', 'STOPPING=1']);
});

test('lines without a key or an = are ignored', () => {
  assert.deepEqual(parse(['hello\n=1\n\nREADY=1\n']), ['READY=1']);
});

test('an overlong line is dropped whole, without buffering it, and the next line still counts', () => {
  const long = 'STATUS=' + 'x'.repeat(MAX_NOTIFY_LINE * 3) + 'TAIL=1'; // its tail alone would parse
  const chunks = long.match(/.{1,1000}/gs)!;
  assert.deepEqual(parse([...chunks, '\nREADY=1\n']), ['READY=1']);
});

test('the worker environment: systemd variables, role, channel fd; the agent\'s own notify socket is not inherited', () => {
  const saved = { ...process.env };
  process.env['NOTIFY_SOCKET'] = '/run/systemd/notify';
  process.env['LISTEN_FDS'] = '7';
  try {
    const env = workerEnv({ argv: ['x'], cwd: undefined, env: { FOO: 'bar', WATCHDOG_PID: '1' }, appDir: '/data/app/b' }, { fds: [20, 21], names: ['web', 'admin'], generation: 3, heartbeatTimeoutMs: 1500 });
    assert.equal(env['NOTIFY_SOCKET'], undefined);
    assert.equal(env['WATCHDOG_PID'], undefined, 'set by the exec shim to the worker pid');
    assert.deepEqual(
      [env['LISTEN_FDS'], env['LISTEN_FDNAMES'], env['SLOTFLIP_NOTIFY_FD'], env['SLOTFLIP_ROLE'], env['WATCHDOG_USEC'], env['SLOTFLIP_APP_DIR'], env['SLOTFLIP_WORKER_GENERATION'], env['FOO']],
      ['2', 'web:admin', '5', 'worker', '1500000', '/data/app/b', '3', 'bar'],
    );
  } finally {
    process.env = saved;
  }
});
