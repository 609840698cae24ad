// `slotflip env print|set|init` through the CLI's main(): output like fw_printenv, exit codes,
// NAME= deletion, values with spaces, and where the location comes from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { initBootEnv, openBootEnv } from '../../src/bootenv/index.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on('data', (c: Buffer) => chunks.out.push(c));
  err.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await main(['env', ...argv], { out, err, stdin: new PassThrough(), env: {} });
  return { code, out: Buffer.concat(chunks.out).toString(), err: Buffer.concat(chunks.err).toString() };
}

function setup(t: import('node:test').TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'sf-envcmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const image = join(dir, 'env.bin');
  const config = join(dir, 'fw_env.config');
  writeFileSync(config, `# device offset size\n${image} 0x0 0x4000\n${image} 0x4000 0x4000\n`);
  const loc = { backend: 'uboot' as const, copies: [{ device: image, offset: 0, size: 0x4000 }, { device: image, offset: 0x4000, size: 0x4000 }] };
  return { dir, image, config, loc };
}

test('print lists name=value lines; with names only those, in the order asked', async (t) => {
  const { config, loc } = setup(t);
  await initBootEnv(loc, { bootcmd: 'run distro_bootcmd', bootcount: '0', b: 'x y' });
  assert.deepEqual(await run('print', '--config', config), { code: 0, out: 'b=x y\nbootcmd=run distro_bootcmd\nbootcount=0\n', err: '' });
  assert.equal((await run('print', '--config', config, 'bootcount', 'b')).out, 'bootcount=0\nb=x y\n');
  assert.equal((await run('print', '--config', config, '-n', 'b')).out, 'x y\n');
  assert.deepEqual(JSON.parse((await run('print', '--config', config, '--json', 'b')).out), { ok: true, vars: { b: 'x y' } });
});

test('print of a name that is not defined prints the others and exits 1', async (t) => {
  const { config, loc } = setup(t);
  await initBootEnv(loc, { a: '1' });
  const r = await run('print', '--config', config, 'a', 'nope');
  assert.equal(r.code, 1);
  assert.equal(r.out, 'a=1\n');
  assert.match(r.err, /^error SF_ERR_ENV_UNDEFINED: "nope" not defined/);
});

test('set takes NAME=VALUE pairs in one write: spaces and "=" in values, NAME= deletes', async (t) => {
  const { config, loc } = setup(t);
  await initBootEnv(loc, { old: 'gone soon', keep: '1' });
  const r = await run('set', '--config', config, 'bootargs=console=ttyS0 root=/dev/mmcblk0p2', 'old=', 'n=2');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(Object.fromEntries(await openBootEnv(loc).read()), { bootargs: 'console=ttyS0 root=/dev/mmcblk0p2', keep: '1', n: '2' });
  const bad = await run('set', '--config', config, 'novalue');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /SF_ERR_USAGE/);
});

test('set on an environment with no valid copy is refused with SF_ERR_ENV_CRC', async (t) => {
  const { config, image } = setup(t);
  writeFileSync(image, Buffer.alloc(0x8000));
  const r = await run('set', '--config', config, 'a=1');
  assert.equal(r.code, 1);
  assert.match(r.err, /SF_ERR_ENV_CRC/);
  assert.ok(readFileSync(image).equals(Buffer.alloc(0x8000)));
});

test('init writes a fresh env from pairs and --input, and refuses to replace a valid one without --force', async (t) => {
  const { dir, config, loc } = setup(t);
  const input = join(dir, 'env.txt');
  writeFileSync(input, '# defaults\nbootcmd=run a; run b\n\nbootlimit=3\n');
  assert.equal((await run('init', '--config', config, '--input', input, 'bootlimit=5', 'slotflip_slot=a')).code, 0);
  assert.deepEqual(Object.fromEntries(await openBootEnv(loc).read()), { bootcmd: 'run a; run b', bootlimit: '5', slotflip_slot: 'a' });
  const again = await run('init', '--config', config, 'x=1');
  assert.equal(again.code, 2);
  assert.match(again.err, /--force/);
  assert.equal((await run('init', '--config', config, '--force', 'x=1')).code, 0);
  assert.deepEqual(Object.fromEntries(await openBootEnv(loc).read()), { x: '1' });
});

test('location: --board takes a profile, --device-config its env, --config wins over both', async (t) => {
  const { dir, config, loc } = setup(t);
  await initBootEnv(loc, { from: 'fw_env.config' });
  const boardImage = join(dir, 'board-env.bin');
  const profile = join(dir, 'board.json');
  writeFileSync(
    profile,
    JSON.stringify({
      name: 'test-board',
      description: 'test',
      arch: 'amd64',
      tested: 'host',
      bootloader: { kind: 'simulator' },
      env: { copies: [{ device: boardImage, offset: 0, size: 0x2000 }] },
      slots: { a: { device: 'a.img', type: 'file' }, b: { device: 'b.img', type: 'file' } },
      data: { mountpoint: 'data' },
    }),
  );
  await initBootEnv({ backend: 'uboot', copies: [{ device: boardImage, offset: 0, size: 0x2000 }] }, { from: 'board' });
  const deviceConfig = join(dir, 'device.json');
  writeFileSync(deviceConfig, JSON.stringify({ deviceId: 'd1', board: profile, dataDir: 'data', trustedKeys: ['k.pem'], env: { backend: 'file', path: 'env.json' } }));
  await initBootEnv({ backend: 'file', path: join(dir, 'env.json') }, { from: 'device config' });

  assert.equal((await run('print', '--board', profile, 'from')).out, 'from=board\n');
  assert.equal((await run('print', '--device-config', deviceConfig, 'from')).out, 'from=device config\n');
  assert.equal((await run('print', '--board', profile, '--device-config', deviceConfig, '--config', config, 'from')).out, 'from=fw_env.config\n');
  assert.equal((await run('print', '--board', profile, '--device-config', deviceConfig, 'from')).out, 'from=board\n');
});

test('unknown subcommands and options are usage errors', async () => {
  assert.equal((await run('frobnicate')).code, 2);
  assert.equal((await run('print', '--nope')).code, 2);
});
