// App slots: install into the inactive slot, atomic flip of `current`, rollback, the
// pre-install hook's veto, refusal of unsafe archives, and the sample worker run from a slot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { AppSlots } from '../../../src/agent/worker/app-slots.js';
import { realFs, type FileSystem } from '../../../src/platform/fs.js';
import { Supervisor } from '../../../src/agent/worker/supervisor.js';
import { SAMPLE_DIR, childrenOf, get, tempDir, workerConfig } from './helpers.js';

// The header type, whichever typings (tar-stream's own or @types) are installed.
type Header = Parameters<ReturnType<typeof tar.pack>['entry']>[0];

interface E {
  name: string;
  type?: Header['type'];
  body?: string;
  linkname?: string;
  mode?: number;
}

async function tarOf(entries: E[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const header: Header = { name: e.name, type: e.type ?? 'file', mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644) };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.type === 'character-device') Object.assign(header, { devmajor: 1, devminor: 3 });
    pack.entry(header, e.body ?? '');
  }
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const app = (version: string): E[] => [
  { name: './', type: 'directory' },
  { name: 'VERSION', body: version + '\n' },
  { name: 'bin/run', body: '#!/bin/sh\necho run\n', mode: 0o4777 },
  { name: 'lib/data.txt', body: 'data' },
  { name: 'lib/alias', type: 'symlink', linkname: 'data.txt' },
  { name: 'bin/data', type: 'symlink', linkname: '../lib/data.txt' },
  { name: 'copy.txt', type: 'link', linkname: 'lib/data.txt' },
];

function setup() {
  const t = tempDir('sf-app-');
  return { ...t, slots: new AppSlots({ dataDir: t.dir, hookOutput: 'ignore' }) };
}

test('install stages into the inactive slot, flips current, and rollbackApp flips back', async (t) => {
  const { dir, slots, cleanup } = setup();
  t.after(cleanup);
  assert.equal(await slots.current(), undefined);
  const first = await slots.install(Readable.from(await tarOf(app('1.0.0'))), { version: '1.0.0' });
  assert.deepEqual([first.slot, first.previous, first.stats.files, first.stats.links], ['a', undefined, 4, 2]);
  assert.equal(readlinkSync(join(dir, 'app', 'current')), 'a');
  assert.equal(readFileSync(join(dir, 'app', 'current', 'VERSION'), 'utf8'), '1.0.0\n');
  assert.equal(readFileSync(join(dir, 'app', 'a', 'bin', 'data'), 'utf8'), 'data');
  assert.equal(readFileSync(join(dir, 'app', 'a', 'copy.txt'), 'utf8'), 'data');
  assert.equal(lstatSync(join(dir, 'app', 'a', 'bin', 'run')).mode & 0o7777, 0o755, 'setuid and group/other write dropped');

  const second = await slots.install(Readable.from(await tarOf(app('2.0.0'))), { version: '2.0.0' });
  assert.deepEqual([second.slot, second.previous], ['b', 'a']);
  assert.equal(readFileSync(join(dir, 'app', 'current', 'VERSION'), 'utf8'), '2.0.0\n');
  assert.equal((await slots.info('b'))?.version, '2.0.0');

  assert.equal(await slots.rollbackApp(), 'a');
  assert.equal(readFileSync(join(dir, 'app', 'current', 'VERSION'), 'utf8'), '1.0.0\n');
  assert.deepEqual(readdirSync(join(dir, 'app')).sort(), ['a', 'a.json', 'b', 'b.json', 'current']);
});

test('rollbackApp is refused when the other slot holds no complete install', async (t) => {
  const { slots, cleanup } = setup();
  t.after(cleanup);
  await assert.rejects(slots.rollbackApp(), { code: 'SF_ERR_APP_SLOT' });
  await slots.install(Readable.from(await tarOf(app('1.0.0'))));
  await assert.rejects(slots.rollbackApp(), { code: 'SF_ERR_APP_SLOT' });
});

test('the flip is a new link under a temporary name renamed over current, then a directory fsync', async (t) => {
  const { dir, cleanup } = setup();
  t.after(cleanup);
  const calls: string[] = [];
  const fs: FileSystem = {
    ...realFs,
    symlink: (target, file) => (calls.push(`symlink ${target} ${file.slice(dir.length)}`), realFs.symlink(target, file)),
    rename: (from, to) => (calls.push(`rename ${from.slice(dir.length)} ${to.slice(dir.length)}`), realFs.rename(from, to)),
    syncDir: (d) => (calls.push(`syncDir ${d.slice(dir.length)}`), realFs.syncDir(d)),
  };
  const slots = new AppSlots({ dataDir: dir, fs });
  await slots.stage(Readable.from(await tarOf(app('1.0.0'))));
  calls.length = 0;
  await slots.flip('a');
  assert.deepEqual(calls, ['symlink a /app/.current.tmp', 'rename /app/.current.tmp /app/current', 'syncDir /app']);
});

test('the pre-install hook gets the staged folder; a non-zero exit vetoes and changes nothing', async (t) => {
  const { dir, slots, cleanup } = setup();
  t.after(cleanup);
  await slots.install(Readable.from(await tarOf(app('1.0.0'))), { preInstall: ['/bin/sh', '-c', 'test -f "$1/VERSION" && test "$SLOTFLIP_STAGED_APP" = "$1"', 'hook'] });
  assert.equal(await slots.current(), 'a');
  await assert.rejects(slots.install(Readable.from(await tarOf(app('2.0.0'))), { preInstall: ['/bin/sh', '-c', 'exit 3', 'hook'] }), (err: { code: string; details: { code: number } }) => {
    assert.deepEqual([err.code, err.details.code], ['SF_ERR_APP_VETOED', 3]);
    return true;
  });
  assert.equal(await slots.current(), 'a');
  assert.equal(await slots.info('b'), undefined);
  assert.equal(existsSync(join(dir, 'app', 'b')), false, 'the vetoed staging is removed');
  await assert.rejects(slots.install(Readable.from(await tarOf(app('2.0.0'))), { preInstall: ['/nonexistent/hook'] }), { code: 'SF_ERR_APP_VETOED' });
});

const unsafe: [string, E[], string][] = [
  ['an absolute path', [{ name: '/etc/evil', body: 'x' }], 'SF_ERR_APP_UNSAFE_PATH'],
  ['a .. path', [{ name: '../evil', body: 'x' }], 'SF_ERR_APP_UNSAFE_PATH'],
  ['a .. inside a path', [{ name: 'lib/../../evil', body: 'x' }], 'SF_ERR_APP_UNSAFE_PATH'],
  ['a symlink to an absolute path', [{ name: 'etc', type: 'symlink', linkname: '/etc' }], 'SF_ERR_APP_UNSAFE_LINK'],
  ['a symlink climbing out', [{ name: 'lib/up', type: 'symlink', linkname: '../../outside' }], 'SF_ERR_APP_UNSAFE_LINK'],
  ['a symlink escaping through another symlink', [{ name: 'd', type: 'symlink', linkname: '.' }, { name: 's', type: 'symlink', linkname: 'd/..' }], 'SF_ERR_APP_UNSAFE_LINK'],
  ['a symlink made to escape by a later one', [{ name: 's', type: 'symlink', linkname: 'd/..' }, { name: 'd', type: 'symlink', linkname: '.' }], 'SF_ERR_APP_UNSAFE_LINK'],
  ['a write through a symlink', [{ name: 'd', type: 'symlink', linkname: 'sub' }, { name: 'd/f', body: 'x' }], 'SF_ERR_APP_UNSAFE_LINK'],
  ['a hard link to outside', [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], 'SF_ERR_APP_UNSAFE_LINK'],
  ['a character device', [{ name: 'null', type: 'character-device' }], 'SF_ERR_APP_UNSAFE_TYPE'],
  ['a fifo', [{ name: 'pipe', type: 'fifo' }], 'SF_ERR_APP_UNSAFE_TYPE'],
];

for (const [what, entries, code] of unsafe) {
  test(`an app payload with ${what} is refused with ${code}; current stays`, async (t) => {
    const { dir, slots, cleanup } = setup();
    t.after(cleanup);
    await slots.install(Readable.from(await tarOf(app('1.0.0'))));
    await assert.rejects(slots.install(Readable.from(await tarOf([{ name: 'ok.txt', body: 'fine' }, ...entries]))), { code });
    assert.equal(await slots.current(), 'a');
    assert.equal(await slots.info('b'), undefined);
    assert.deepEqual(readdirSync(dir).sort(), ['app'], 'nothing written beside the app folder');
  });
}

test('a payload that is not a tar is refused with SF_ERR_APP_TAR', async (t) => {
  const { slots, cleanup } = setup();
  t.after(cleanup);
  await assert.rejects(slots.install(Readable.from([Buffer.alloc(1024, 0x41)])), { code: 'SF_ERR_APP_TAR' });
  assert.equal(await slots.current(), undefined);
});

test('the sample worker runs from an app slot it was installed into', async (t) => {
  const { slots, cleanup } = setup();
  t.after(cleanup);
  const files = ['server.mjs', 'VERSION'].map((name) => ({ name, body: readFileSync(join(SAMPLE_DIR, name), 'utf8') }));
  await slots.install(Readable.from(await tarOf(files)));
  const sup = new Supervisor({ config: workerConfig(), appDir: await slots.currentDir(), output: 'ignore' });
  await sup.start();
  try {
    await sup.waitHealthy(5000);
    const r = await get(sup.sockets[0]!.port!);
    assert.equal(r.json?.version, readFileSync(join(SAMPLE_DIR, 'VERSION'), 'utf8').trim());
  } finally {
    await sup.stop();
  }
  assert.deepEqual(childrenOf(), []);
});
