// Cross-check with the real bmaptool (Debian's bmap-tools): its .bmap files, made from the
// image's actual extents (FIEMAP/SEEK_HOLE), drive `flashImage`; an explicitly written zero
// block is mapped there, so it is copied, unlike with the zero-block scan.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { flashImage } from '../../src/flash/write.js';
import { parseBmap } from '../../src/flash/bmap.js';
import { realFs } from '../../src/platform/fs.js';
import { makeSparseImage, pattern } from './fixtures.js';

let dir: string;

function ensureBmaptool(): void {
  const have = (): boolean => spawnSync('bmaptool', ['--version'], { stdio: 'ignore' }).status === 0;
  if (have()) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', '--no-install-recommends', 'bmap-tools'], { stdio: 'inherit', env });
  if (!have()) throw new Error('this test needs bmaptool (Debian package bmap-tools); apt-get install failed');
}

before(async () => {
  ensureBmaptool();
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-bmaptool-'));
});
after(() => fsp.rm(dir, { recursive: true, force: true }));

test('a bmap made by bmaptool create drives the copy; allocated zero blocks are copied', async () => {
  const image = path.join(dir, 'rootfs.img');
  const MiB = 1 << 20;
  const bytes = await makeSparseImage(image, 32 * MiB, [
    { offset: 0, data: pattern(8192, 7) },
    { offset: 9 * MiB, data: pattern(3 * 4096, 8) },
    { offset: 20 * MiB, data: Buffer.alloc(2 * 4096) }, // written zeros: allocated, so mapped
  ]);
  const bmapFile = path.join(dir, 'rootfs.bmap');
  const r = spawnSync('bmaptool', ['create', '-o', bmapFile, image], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const map = parseBmap(await fsp.readFile(bmapFile), bmapFile);
  assert.equal(map.checksumType, 'sha256');
  assert.equal(map.mappedBlocksCount, 2 + 3 + 2);

  const target = path.join(dir, 'out.img');
  const report = await flashImage({ fs: realFs, image, target, bmap: 'require', mountsFile: '/dev/null' });
  assert.equal(report.method, 'bmap');
  assert.equal(report.dataBytes, 7 * 4096);
  assert.ok((await fsp.readFile(target)).equals(bytes));

  // bmaptool itself accepts what we wrote as a copy of the image (it re-reads with its own checks).
  const check = spawnSync('bmaptool', ['copy', '--bmap', bmapFile, target, path.join(dir, 'again.img')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);

  const scanned = await flashImage({ fs: realFs, image, target, bmap: 'none', mountsFile: '/dev/null' });
  assert.equal(scanned.dataBytes, 5 * 4096, 'the zero scan skips the written zero blocks');
});
