// install/uninstall through the CLI under a temp --root: what lands where, idempotent
// reinstall, refusal to replace or remove files slotflip did not write, --dry-run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseUnit, one } from './unit-file.js';
import { runCli } from '../support/cli.js';

function cli(argv: string[]): ReturnType<typeof runCli> {
  return runCli(argv, { PATH: '/usr/bin:/bin' });
}

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-service-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every path under `root`, symlinks shown with their target. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(root, p) + (e.isSymbolicLink() ? ` -> ${await fsp.readlink(p)}` : ''));
    }
  }
  await walk(root);
  return out.sort();
}

const PATHS = ['--node', '/usr/bin/node', '--bin', '/usr/lib/slotflip/slotflip.mjs'];

test('systemd: install writes the unit and the wants link; reinstall updates; uninstall leaves nothing', async (t) => {
  const root = await tempRoot(t);
  const r = await cli(['service', 'install', '--init', 'systemd', '--root', root, '--config', '/data/device.json', ...PATHS]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(await tree(root), [
    'etc/systemd/system/multi-user.target.wants/slotflip-agent.service -> /etc/systemd/system/slotflip-agent.service',
    'etc/systemd/system/slotflip-agent.service',
  ]);
  const unitFile = path.join(root, 'etc/systemd/system/slotflip-agent.service');
  assert.equal((await fsp.stat(unitFile)).mode & 0o777, 0o644);
  assert.match(one(parseUnit(await fsp.readFile(unitFile, 'utf8')), 'Service', 'ExecStart'), /agent --config \/data\/device\.json$/);

  const again = await cli(['service', 'install', '--init', 'systemd', '--root', root, ...PATHS]);
  assert.equal(again.code, 0, again.err);
  assert.match(one(parseUnit(await fsp.readFile(unitFile, 'utf8')), 'Service', 'ExecStart'), /agent --config \/etc\/slotflip\/device\.json$/);

  const u = await cli(['service', 'uninstall', '--init', 'systemd', '--root', root]);
  assert.equal(u.code, 0, u.err);
  assert.equal(u.out.match(/^removed /gm)?.length, 2);
  assert.deepEqual(await tree(root), []);
  const none = await cli(['service', 'uninstall', '--init', 'systemd', '--root', root]);
  assert.equal(none.code, 0);
  assert.match(none.out, /nothing of slotflip's systemd service was installed/);
});

test('procd: script 0755 plus the rc.d links that `enable` makes; round trip', async (t) => {
  const root = await tempRoot(t);
  assert.equal((await cli(['service', 'install', '--init', 'procd', '--root', root, ...PATHS])).code, 0);
  assert.deepEqual(await tree(root), [
    'etc/init.d/slotflip-agent',
    'etc/rc.d/K10slotflip-agent -> ../init.d/slotflip-agent',
    'etc/rc.d/S95slotflip-agent -> ../init.d/slotflip-agent',
  ]);
  assert.equal((await fsp.stat(path.join(root, 'etc/init.d/slotflip-agent'))).mode & 0o777, 0o755);
  assert.equal((await cli(['service', 'uninstall', '--init', 'procd', '--root', root])).code, 0);
  assert.deepEqual(await tree(root), []);
});

test('sysv: init.d script, or with --inittab a marked line in an existing inittab; uninstall restores it', async (t) => {
  const root = await tempRoot(t);
  assert.equal((await cli(['service', 'install', '--init', 'sysv', '--root', root, ...PATHS])).code, 0);
  assert.deepEqual(await tree(root), ['etc/init.d/slotflip-agent']);

  const inittab = path.join(root, 'etc/inittab');
  const original = '::sysinit:/etc/init.d/rcS\n::shutdown:/bin/umount -a -r\n';
  await fsp.writeFile(inittab, original);
  assert.equal((await cli(['service', 'install', '--init', 'sysv', '--inittab', '--root', root, ...PATHS])).code, 0);
  const text = await fsp.readFile(inittab, 'utf8');
  assert.ok(text.startsWith(original));
  assert.match(text, /^::respawn:env GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=131072 \/usr\/bin\/node --max-semi-space-size=1 --expose-gc \/usr\/lib\/slotflip\/slotflip\.mjs agent --config \/etc\/slotflip\/device\.json$/m);

  const u = await cli(['service', 'uninstall', '--init', 'sysv', '--root', root]);
  assert.equal(u.code, 0, u.err);
  assert.equal(await fsp.readFile(inittab, 'utf8'), original);
  assert.deepEqual(await tree(root), ['etc/inittab']);
});

test('a unit someone else wrote is neither replaced nor removed, and a refused install writes nothing', async (t) => {
  const root = await tempRoot(t);
  const unitFile = path.join(root, 'etc/systemd/system/slotflip-agent.service');
  await fsp.mkdir(path.dirname(unitFile), { recursive: true });
  const theirs = '[Service]\nExecStart=/usr/local/bin/their-agent\n';
  await fsp.writeFile(unitFile, theirs);

  const i = await cli(['service', 'install', '--init', 'systemd', '--root', root, ...PATHS]);
  assert.equal(i.code, 1);
  assert.match(i.err, /^error SF_ERR_SERVICE_FOREIGN: refusing to replace .*slotflip-agent\.service/);
  const u = await cli(['service', 'uninstall', '--init', 'systemd', '--root', root]);
  assert.equal(u.code, 1);
  assert.match(u.err, /SF_ERR_SERVICE_FOREIGN: refusing to remove/);
  assert.equal(await fsp.readFile(unitFile, 'utf8'), theirs);
  assert.deepEqual(await tree(root), ['etc/systemd/system/slotflip-agent.service']);
});

test('an rc.d link to another script is not slotflip\'s to remove', async (t) => {
  const root = await tempRoot(t);
  assert.equal((await cli(['service', 'install', '--init', 'procd', '--root', root, ...PATHS])).code, 0);
  const link = path.join(root, 'etc/rc.d/S95slotflip-agent');
  await fsp.unlink(link);
  await fsp.symlink('../init.d/something-else', link);
  const u = await cli(['service', 'uninstall', '--init', 'procd', '--root', root]);
  assert.equal(u.code, 1);
  assert.match(u.err, /SF_ERR_SERVICE_FOREIGN/);
  assert.equal(await fsp.readlink(link), '../init.d/something-else');
});

test('--dry-run prints every file and link and writes nothing', async (t) => {
  const root = await tempRoot(t);
  const r = await cli(['service', 'install', '--init', 'systemd', '--root', root, '--dry-run', ...PATHS]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.includes(`--- ${root}/etc/systemd/system/slotflip-agent.service (mode 644)\n`));
  assert.ok(r.out.includes('Type=notify\n'));
  assert.ok(r.out.includes(`--- ${root}/etc/systemd/system/multi-user.target.wants/slotflip-agent.service -> /etc/systemd/system/slotflip-agent.service\n`));
  assert.deepEqual(await tree(root), []);
});

test('usage errors: no verb, unknown init, unsafe path', async () => {
  assert.equal((await cli(['service', '--init', 'systemd'])).code, 2);
  const bad = await cli(['service', 'install', '--init', 'upstart']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--init must be one of systemd, sysv, procd/);
  assert.equal((await cli(['service', 'install', '--init', 'systemd', '--config', 'relative.json', '--dry-run'])).code, 2);
});
