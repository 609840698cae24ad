// sd-notify end to end: a Python listener on a Unix datagram socket (path and abstract
// name) stands in for systemd; with NOTIFY_SOCKET pointing at it, notifyReady and friends
// must deliver the datagram through the real systemd-notify, and as root the kernel-checked
// sender pid must be ours, which is what NotifyAccess=main compares against.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { notifyReady, notifyStopping, notifyWatchdog, processNotifySeam, type NotifySeam } from '../../src/service/sd-notify.js';
import { requireTool } from './tools.js';

// Prints one JSON line per datagram: its text and the SCM_CREDENTIALS the kernel attached.
const LISTENER = `
import json, os, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(addr if not addr.startswith('@') else '\\0' + addr[1:])
print(json.dumps({'listening': True}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
    pid = uid = None
    for level, kind, data in anc:
        if kind == socket.SCM_CREDENTIALS:
            pid, uid, _ = struct.unpack('iII', data[:12])
        if kind == socket.SCM_RIGHTS:
            for i in range(0, len(data) - len(data) % 4, 4):
                os.close(struct.unpack('i', data[i:i+4])[0])
    print(json.dumps({'msg': msg.decode(), 'pid': pid, 'uid': uid}), flush=True)
`;

interface Datagram {
  msg: string;
  pid: number;
  uid: number;
}

async function listen(t: { after(fn: () => void | Promise<void>): void }, address: string): Promise<() => Promise<Datagram>> {
  const python = requireTool('python3', 'python3');
  const child: ChildProcess = spawn(python, ['-c', LISTENER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  assert.deepEqual(JSON.parse(String(first.value)), { listening: true });
  return async () => {
    const next = await lines.next();
    if (next.done) assert.fail('the listener exited');
    return JSON.parse(next.value) as Datagram;
  };
}

function seamFor(socket: string): NotifySeam {
  return { env: { NOTIFY_SOCKET: socket, PATH: process.env['PATH'] }, pid: process.pid, run: processNotifySeam.run };
}

for (const kind of ['path', 'abstract'] as const) {
  test(`READY, WATCHDOG and STOPPING reach a datagram socket (${kind} address) as the agent's own`, async (t) => {
    requireTool('systemd-notify', 'systemd');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-notify-'));
    t.after(() => fsp.rm(dir, { recursive: true, force: true }));
    const address = kind === 'path' ? path.join(dir, 'notify') : `@slotflip-test-${process.pid}-${Date.now()}`;
    const next = await listen(t, address);
    const seam = seamFor(address);
    const asRoot = process.getuid?.() === 0;
    for (const [send, state] of [
      [notifyReady, 'READY=1'],
      [notifyWatchdog, 'WATCHDOG=1'],
      [notifyStopping, 'STOPPING=1'],
    ] as const) {
      assert.equal(await send(seam), true);
      const d = await next();
      assert.equal(d.msg, `MAINPID=${process.pid}\n${state}`);
      // Without CAP_SYS_ADMIN the kernel refuses the claimed pid and the helper sends as
      // itself, which NotifyAccess=main would reject: that is why the unit runs as root.
      if (asRoot) assert.equal(d.pid, process.pid, 'the kernel-attested sender is the agent');
      else assert.notEqual(d.pid, process.pid);
    }
  });
}

test('a NOTIFY_SOCKET nobody listens on is a typed error, not silence', async (t) => {
  requireTool('systemd-notify', 'systemd');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-notify-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  await assert.rejects(notifyWatchdog(seamFor(path.join(dir, 'nobody'))), (err: Error & { code: string }) => {
    assert.equal(err.code, 'SF_ERR_SD_NOTIFY');
    assert.match(err.message, /WATCHDOG=1 to systemd .*nobody/);
    return true;
  });
});
