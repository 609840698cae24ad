// The generated init files: the systemd unit read back key by key, the sysv and procd
// scripts' essential lines, the inittab edit, and the checks on paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderSystemdUnit } from '../../src/service/systemd.js';
import { renderSysvScript, renderInittabLines, editInittab } from '../../src/service/sysv.js';
import { renderProcdScript } from '../../src/service/procd.js';
import { AGENT_NODE_FLAGS, agentArgv, checkLaunch, isOurs, MARKER } from '../../src/service/spec.js';
import { defaultBin, defaultNode, DEFAULT_BIN } from '../../src/service/defaults.js';
import { parseUnit, one } from './unit-file.js';

const launch = { node: '/usr/bin/node', bin: '/usr/lib/slotflip/slotflip.mjs', config: '/etc/slotflip/device.json' };
const TUNABLES = 'GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072';
const AGENT = '/usr/bin/node --max-semi-space-size=1 --expose-gc /usr/lib/slotflip/slotflip.mjs agent --config /etc/slotflip/device.json';

test('systemd unit: Type=notify with watchdog, restart, mixed kill mode, HUP reload, after network-online', () => {
  const text = renderSystemdUnit(launch);
  assert.ok(isOurs(text));
  const unit = parseUnit(text);
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  assert.equal(one(unit, 'Service', 'Type'), 'notify');
  assert.equal(one(unit, 'Service', 'NotifyAccess'), 'main');
  assert.equal(one(unit, 'Service', 'ExecStart'), AGENT);
  assert.equal(one(unit, 'Service', 'Environment'), TUNABLES);
  assert.equal(one(unit, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one(unit, 'Service', 'Restart'), 'always');
  assert.equal(one(unit, 'Service', 'KillMode'), 'mixed');
  const watchdog = Number(one(unit, 'Service', 'WatchdogSec'));
  assert.ok(watchdog >= 10, 'a watchdog the agent can feed from a timer');
  assert.ok(Number(one(unit, 'Service', 'RestartSec')) > 0);
  // the agent drains the worker (5 s) and then terminates it (5 s) before exiting
  assert.ok(Number(one(unit, 'Service', 'TimeoutStopSec')) > 10);
  assert.equal(one(unit, 'Unit', 'After'), 'network-online.target');
  assert.equal(one(unit, 'Unit', 'Wants'), 'network-online.target');
  assert.equal(one(unit, 'Install', 'WantedBy'), 'multi-user.target');
});

test('sysv script: LSB header, every verb, the agent command and a respawn loop', () => {
  const text = renderSysvScript(launch);
  assert.ok(text.startsWith('#!/bin/sh\n'));
  assert.ok(isOurs(text));
  assert.match(text, /^# Provides: +slotflip-agent$/m);
  for (const verb of ['start', 'stop', 'restart', 'reload|force-reload', 'status']) assert.match(text, new RegExp(`^\\t${verb.replace('|', '\\|')}\\)`, 'm'));
  assert.match(text, /^NODE=\/usr\/bin\/node$/m);
  assert.match(text, /^NODE_FLAGS="--max-semi-space-size=1 --expose-gc"$/m);
  assert.match(text, /\$NODE \$NODE_FLAGS \$BIN \$ARGS &/);
  // the environment is set before /etc/default (which may change it) and exported after
  assert.match(text, /^GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=131072\n\[ -r \/etc\/default\/\$NAME \] && \. \/etc\/default\/\$NAME\nexport GLIBC_TUNABLES$/m);
  assert.match(text, /^BIN=\/usr\/lib\/slotflip\/slotflip\.mjs$/m);
  assert.match(text, /^ARGS="agent --config \/etc\/slotflip\/device\.json"$/m);
  assert.match(text, /while \[ -z "\$stopping" \]; do/);
  assert.match(text, /start-stop-daemon -S/);
});

test('inittab: one marked respawn line, replaced on reinstall, removed without touching the rest', () => {
  const lines = renderInittabLines(launch);
  assert.deepEqual(lines, [`# ${MARKER} --init sysv --inittab`, `::respawn:env ${TUNABLES} ${AGENT}`]);
  const base = '::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n';
  const once = editInittab(base, lines);
  assert.equal(once, base + lines.join('\n') + '\n');
  const moved = renderInittabLines({ ...launch, config: '/data/device.json' });
  const twice = editInittab(once, moved);
  assert.equal(twice.match(/slotflip-generated/g)?.length, 1, 'reinstall replaces, never duplicates');
  assert.ok(twice.includes('--config /data/device.json'));
  assert.equal(editInittab(twice, []), base);
});

test('procd script: rc.common with USE_PROCD, command, respawn defaults, output to logd, HUP reload', () => {
  const text = renderProcdScript(launch);
  assert.ok(text.startsWith('#!/bin/sh /etc/rc.common\n'));
  assert.ok(isOurs(text));
  assert.match(text, /^USE_PROCD=1$/m);
  assert.match(text, /^start_service\(\) \{$/m);
  assert.ok(text.includes(`\tprocd_set_param command ${AGENT}\n\tprocd_set_param env ${TUNABLES}\n`));
  assert.ok(text.includes('\tprocd_set_param respawn ${respawn_threshold:-3600} ${respawn_timeout:-5} ${respawn_retry:-5}\n'));
  assert.match(text, /procd_set_param stdout 1\n\tprocd_set_param stderr 1/);
  assert.match(text, /reload_service\(\) \{\n\tprocd_send_signal slotflip-agent '\*' HUP\n\}/);
});

test('paths must be absolute and free of characters that need quoting in any of the formats', () => {
  assert.deepEqual(checkLaunch(launch), launch);
  for (const bad of ['relative/node', '/opt/my node', '/x/$HOME', '/x/100%', '/x/"q"', '/x/a;b', '/x/../etc', '/a\nb']) {
    assert.throws(() => checkLaunch({ ...launch, node: bad }), { code: 'SF_ERR_USAGE' }, bad);
  }
});

test('a marker further down a file does not make it ours', () => {
  assert.equal(isOurs('[Unit]\nDescription=x\n\n# ' + MARKER + '\n'), false);
  assert.equal(isOurs('[Unit]\n'), false);
});

test('defaults: the running script unless it is TypeScript; node from PATH like command -v', () => {
  assert.equal(defaultBin('/usr/lib/node_modules/slotflip/dist/slotflip.mjs'), '/usr/lib/node_modules/slotflip/dist/slotflip.mjs');
  assert.equal(defaultBin('/work/src/cli/bin.ts'), DEFAULT_BIN);
  assert.equal(defaultBin(undefined), DEFAULT_BIN);
  assert.equal(defaultNode('/nonexistent:relative', '/fallback/node'), '/fallback/node');
  assert.equal(defaultNode(`/nonexistent:${process.execPath.replace(/\/node$/, '')}`, '/fallback/node'), process.execPath);
});

test('node flags: every flavour starts the agent with AGENT_NODE_FLAGS; a launch may set its own', () => {
  assert.deepEqual(agentArgv(launch).slice(0, 1 + AGENT_NODE_FLAGS.length), ['/usr/bin/node', ...AGENT_NODE_FLAGS]);
  assert.ok(AGENT_NODE_FLAGS.includes('--expose-gc'), 'the chunk receiver paces scavenges through gc()');
  const plain = { ...launch, nodeFlags: [], env: {} };
  const unit = parseUnit(renderSystemdUnit(plain));
  assert.equal(one(unit, 'Service', 'ExecStart'), '/usr/bin/node /usr/lib/slotflip/slotflip.mjs agent --config /etc/slotflip/device.json');
  assert.equal(unit.get('Service')!.get('Environment'), undefined);
  assert.match(renderSysvScript(plain), /^NODE_FLAGS=""$/m);
  assert.doesNotMatch(renderSysvScript(plain), /^export /m);
  assert.doesNotMatch(renderProcdScript(plain), /procd_set_param env/);
  assert.equal(renderInittabLines(plain)[1], '::respawn:/usr/bin/node /usr/lib/slotflip/slotflip.mjs agent --config /etc/slotflip/device.json');
  assert.match(renderSysvScript(plain), /^BIN=\/usr\/lib\/slotflip\/slotflip\.mjs$/m);
  assert.ok(renderProcdScript({ ...launch, nodeFlags: ['--optimize-for-size'] }).includes('command /usr/bin/node --optimize-for-size /usr/lib/slotflip/'));
  assert.deepEqual(checkLaunch({ ...launch, nodeFlags: ['--max-old-space-size=48'] }).nodeFlags, ['--max-old-space-size=48']);
  for (const bad of ['-e', '--x=$(id)', '--a b', 'script.js']) assert.throws(() => checkLaunch({ ...launch, nodeFlags: [bad] }), /node flag/);
  assert.deepEqual(checkLaunch({ ...launch, env: { MALLOC_ARENA_MAX: '2' } }).env, { MALLOC_ARENA_MAX: '2' });
  for (const [k, v] of [['lower', '1'], ['A', 'x y'], ['A', '$(id)'], ['A', '"q"']]) assert.throws(() => checkLaunch({ ...launch, env: { [k!]: v! } }), /environment entry/);
});
