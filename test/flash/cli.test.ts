// `slotflip flash` through the CLI entry: report, exit codes, and usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeSparseImage, pattern } from './fixtures.js';
import { runCli } from '../support/cli.js';

const cli = (argv: string[]): ReturnType<typeof runCli> => runCli(argv);

test('flash --to a file prints a JSON report and the copy is identical', async (t) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-flash-cli-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const image = path.join(dir, 'base.img');
  const bytes = await makeSparseImage(image, 4 << 20, [{ offset: 1 << 20, data: pattern(8192, 9) }]);
  const target = path.join(dir, 'card.img');
  const r = await cli(['flash', image, '--to', target, '--json']);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  assert.equal(report.ok, true);
  assert.equal(report.dataBytes, 8192);
  assert.equal(report.verifiedBytes, 8192);
  assert.ok((await fsp.readFile(target)).equals(bytes));

  const text = await cli(['flash', image, '--to', target, '--no-progress']);
  assert.equal(text.code, 0);
  assert.match(text.out, /8\.0 KiB data in 1 ranges, 0 B zeros written, 4\.0 MiB skipped/);
  assert.match(text.out, /verified 8\.0 KiB by read-back/);

  const missing = await cli(['flash', image, '--to', target, '--bmap']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^error SF_ERR_FLASH_BMAP:/);
});

test('flash usage errors exit 2', async () => {
  for (const argv of [['flash'], ['flash', 'x.img'], ['flash', 'x.img', '--to', 'a', '--serial', 'b'], ['flash', 'x.img', '--serial', '/dev/null']]) {
    const r = await cli(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /SF_ERR_USAGE/);
  }
});
