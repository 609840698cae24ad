// The generated files checked by the real tools: systemd-analyze verify on the unit (with
// controls proving it would complain), dash -n and busybox sh -n on the sysv and procd
// scripts, and the procd script's start/reload run against stub procd functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderSystemdUnit } from '../../src/service/systemd.js';
import { renderSysvScript } from '../../src/service/sysv.js';
import { renderProcdScript } from '../../src/service/procd.js';
import { requireTool, run } from './tools.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-service-sys-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

test('systemd-analyze verify accepts the unit without a single warning', async (t) => {
  const analyze = requireTool('systemd-analyze', 'systemd');
  const dir = await tempDir(t);
  // verify checks that ExecStart's program exists and is executable, so point it at real files
  const bin = path.join(dir, 'slotflip.mjs');
  await fsp.writeFile(bin, '');
  const unit = path.join(dir, 'slotflip-agent.service');
  const text = renderSystemdUnit({ node: process.execPath, bin, config: '/etc/slotflip/device.json' });
  await fsp.writeFile(unit, text);
  const ok = await run(analyze, ['verify', unit]);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.err.trim(), '', 'systemd-analyze printed warnings');

  // Controls: the same check must notice a misspelt key and a missing program.
  await fsp.writeFile(unit, text.replace('KillMode=mixed', 'KilMode=mixed'));
  const typo = await run(analyze, ['verify', unit]);
  assert.match(typo.err, /Unknown key 'KilMode'/);
  await fsp.writeFile(unit, renderSystemdUnit({ node: path.join(dir, 'no-node'), bin, config: '/etc/slotflip/device.json' }));
  const missing = await run(analyze, ['verify', unit]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /no-node is not executable/);
});

const launch = { node: '/usr/bin/node', bin: '/usr/lib/slotflip/slotflip.mjs', config: '/etc/slotflip/device.json' };

for (const [shell, pkg, args] of [
  ['dash', 'dash', ['-n']],
  ['busybox', 'busybox', ['sh', '-n']],
] as const) {
  test(`${shell} ${args.join(' ')}: sysv and procd scripts parse, a broken one does not`, async (t) => {
    const exe = requireTool(shell, pkg);
    const dir = await tempDir(t);
    for (const [name, text] of [
      ['sysv', renderSysvScript(launch)],
      ['procd', renderProcdScript(launch)],
    ]) {
      const file = path.join(dir, name);
      await fsp.writeFile(file, text);
      const r = await run(exe, [...args, file]);
      assert.equal(r.code, 0, `${name}: ${r.err}`);
    }
    const broken = path.join(dir, 'broken');
    await fsp.writeFile(broken, renderSysvScript(launch).replace('esac\n', ''));
    assert.notEqual((await run(exe, [...args, broken])).code, 0, 'the syntax check must reject an unclosed case');
  });
}

// What rc.common and /lib/functions/procd.sh would receive, recorded by stub functions.
const PROCD_STUBS = `
procd_open_instance() { echo "open_instance $*"; }
procd_set_param() { echo "set_param $*"; }
procd_close_instance() { echo "close_instance"; }
procd_send_signal() { echo "send_signal $*"; }
. "$1"
echo "START=$START STOP=$STOP USE_PROCD=$USE_PROCD"
start_service
reload_service
`;

for (const [shell, pkg, prefix] of [
  ['dash', 'dash', []],
  ['busybox', 'busybox', ['sh']],
] as const) {
  test(`procd script under ${shell}: start_service and reload_service make the expected procd calls`, async (t) => {
    const exe = requireTool(shell, pkg);
    const dir = await tempDir(t);
    const script = path.join(dir, 'slotflip-agent');
    await fsp.writeFile(script, renderProcdScript(launch));
    const harness = path.join(dir, 'harness.sh');
    await fsp.writeFile(harness, PROCD_STUBS);
    const r = await run(exe, [...prefix, harness, script], { env: { PATH: process.env['PATH'] } });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), [
      'START=95 STOP=10 USE_PROCD=1',
      'open_instance ',
      'set_param command /usr/bin/node --max-semi-space-size=1 --expose-gc /usr/lib/slotflip/slotflip.mjs agent --config /etc/slotflip/device.json',
      'set_param env GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072',
      'set_param respawn 3600 5 5',
      'set_param stdout 1',
      'set_param stderr 1',
      'set_param term_timeout 30',
      'close_instance',
      'send_signal slotflip-agent * HUP',
    ]);
    // respawn limits can be tuned from the environment, as OpenWrt's own scripts allow
    const tuned = await run(exe, [...prefix, harness, script], { env: { PATH: process.env['PATH'], respawn_retry: '0' } });
    assert.ok(tuned.out.includes('set_param respawn 3600 5 0\n'));
  });
}

test('a missing tool fails the test with the package to install, never skips it', () => {
  assert.throws(() => requireTool('slotflip-no-such-tool', 'some-package'), /slotflip-no-such-tool is not installed; .*apt-get install some-package/);
});
