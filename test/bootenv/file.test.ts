// The file backend's own promises: typed refusals for a missing or malformed file, and an
// atomic replace (a write cut short leaves the old environment readable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBootEnv, openBootEnv } from '../../src/bootenv/index.js';
import { EnvFormatError, EnvMissingError } from '../../src/bootenv/errors.js';
import { fakeFs } from './fake-fs.js';

function setup(t: import('node:test').TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'sf-fileenv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'env.json');
  return { dir, path, loc: { backend: 'file' as const, path } };
}

test('a missing file is SF_ERR_ENV_MISSING, not an empty environment', async (t) => {
  const { loc, path } = setup(t);
  await assert.rejects(openBootEnv(loc).read(), (e: unknown) => e instanceof EnvMissingError && e.code === 'SF_ERR_ENV_MISSING');
  await assert.rejects(openBootEnv(loc).update({ a: '1' }), EnvMissingError);
  assert.equal(existsSync(path), false);
});

test('malformed content is SF_ERR_ENV_FORMAT', async (t) => {
  const { loc, path } = setup(t);
  for (const text of ['{not json', '[]', 'null', '"x"', '{"a": 1}', '{"a": {"b": "c"}}']) {
    writeFileSync(path, text);
    await assert.rejects(openBootEnv(loc).read(), (e: unknown) => e instanceof EnvFormatError && e.code === 'SF_ERR_ENV_FORMAT', text);
  }
});

test('the file is a plain JSON object, sorted by name', async (t) => {
  const { loc, path } = setup(t);
  await initBootEnv(loc, { b: '2', a: '1' });
  assert.equal(readFileSync(path, 'utf8'), '{\n  "a": "1",\n  "b": "2"\n}\n');
});

test('a write cut short leaves the old environment; the next write goes through', async (t) => {
  const { loc, dir } = setup(t);
  const fs = fakeFs();
  await initBootEnv(loc, { slot: 'a' }, fs);
  fs.tearNextWrite(3);
  await assert.rejects(openBootEnv(loc, fs).update({ slot: 'b' }), (e: any) => e.code === 'SF_ERR_IO');
  assert.deepEqual([...(await openBootEnv(loc, fs).read())], [['slot', 'a']]);
  fs.syncs = 0;
  await openBootEnv(loc, fs).update({ slot: 'c' });
  assert.ok(fs.syncs >= 1, 'fsync before the rename');
  assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.')), ['env.json']);
  assert.deepEqual([...(await openBootEnv(loc).read())], [['slot', 'c']]);
});
