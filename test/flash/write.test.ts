// flashImage: holes skipped (zero-scan and bmap), data identical, read-back catches a corrupted
// target, mounted targets refused, block-device semantics for zero blocks.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { statSync } from 'node:fs';
import { flashImage } from '../../src/flash/write.js';
import { realFs } from '../../src/platform/fs.js';
import { makeBmap, makeSparseImage, pattern, wrapFs, type Extent } from './fixtures.js';

const MiB = 1024 * 1024;
let dir: string;
let mounts: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-flash-'));
  mounts = path.join(dir, 'mounts');
  await fsp.writeFile(mounts, 'proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw 0 0\n');
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

// 8 MiB + 1000 bytes: data at the start (MBR-like), in the middle (spanning a 1 MiB buffer
// boundary), a lone block, and a partial last block.
const SIZE = 8 * MiB + 1000;
const EXTENTS: Extent[] = [
  { offset: 0, data: pattern(3 * 4096, 1) },
  { offset: MiB - 4096, data: pattern(3 * 4096, 2) },
  { offset: 5 * MiB, data: pattern(4096, 3) },
  { offset: 8 * MiB, data: pattern(1000, 4) },
];
const DATA_BYTES = 3 * 4096 + 3 * 4096 + 4096 + 1000;

function overlapsHole(position: number, length: number): boolean {
  // A write may only touch bytes inside the extents.
  for (let p = position; p < position + length; p += 512) {
    if (!EXTENTS.some((e) => p >= e.offset && p < e.offset + e.data.length)) return true;
  }
  return false;
}

test('zero-scan: writes only the data blocks to a fresh sparse file, content identical, verified', async () => {
  const image = path.join(dir, 'base.img');
  const target = path.join(dir, 'out.img');
  const bytes = await makeSparseImage(image, SIZE, EXTENTS);
  const fs = wrapFs();
  const phases = new Set<string>();
  const r = await flashImage({ fs, image, target, mountsFile: mounts, onProgress: (p) => phases.add(p) });
  assert.equal(r.method, 'zero-scan');
  assert.equal(r.targetKind, 'file');
  assert.equal(r.dataBytes, DATA_BYTES);
  assert.equal(r.zeroBytesWritten, 0);
  assert.equal(r.skippedBytes, SIZE - DATA_BYTES);
  assert.equal(r.ranges, 4);
  assert.equal(r.verifiedBytes, DATA_BYTES);
  assert.deepEqual([...phases].sort(), ['verify', 'write']);
  const targetWrites = fs.writes.filter((w) => w.file === path.resolve(target));
  assert.equal(targetWrites.reduce((n, w) => n + w.length, 0), DATA_BYTES);
  assert.ok(!targetWrites.some((w) => overlapsHole(w.position, w.length)), 'a write touched a hole');
  assert.ok((await fsp.readFile(target)).equals(bytes));
  // The holes stayed holes on disk: far fewer blocks allocated than the file's size.
  assert.ok(statSync(target).blocks * 512 < 2 * MiB, `target allocates ${statSync(target).blocks * 512} bytes`);
});

test('bmap: copies exactly the mapped ranges and checks their checksums', async () => {
  const image = path.join(dir, 'base.img');
  const target = path.join(dir, 'out.img');
  const bytes = await makeSparseImage(image, SIZE, EXTENTS);
  await fsp.writeFile(path.join(dir, 'base.bmap'), makeBmap(bytes));
  const fs = wrapFs();
  const r = await flashImage({ fs, image, target, bmap: 'require', mountsFile: mounts });
  assert.equal(r.method, 'bmap');
  assert.equal(r.bmapFile, path.join(dir, 'base.bmap'));
  assert.equal(r.dataBytes, DATA_BYTES);
  assert.equal(r.skippedBytes, SIZE - DATA_BYTES);
  assert.ok(!fs.writes.some((w) => overlapsHole(w.position, w.length)));
  assert.ok((await fsp.readFile(target)).equals(bytes));
});

test('bmap: an image that does not match its bmap is refused with SF_ERR_FLASH_BMAP', async () => {
  const image = path.join(dir, 'base.img');
  const bytes = await makeSparseImage(image, SIZE, EXTENTS);
  await fsp.writeFile(`${image}.bmap`, makeBmap(bytes));
  const fh = await fsp.open(image, 'r+');
  await fh.write(Buffer.from([0x55]), 0, 1, 5 * MiB + 7); // one byte changed inside a mapped range
  await fh.close();
  await assert.rejects(flashImage({ fs: realFs, image, target: path.join(dir, 'out.img'), mountsFile: mounts }), { code: 'SF_ERR_FLASH_BMAP' });
});

test('bmap: a damaged bmap file is refused by its own checksum', async () => {
  const image = path.join(dir, 'base.img');
  const bytes = await makeSparseImage(image, SIZE, EXTENTS);
  await fsp.writeFile(`${image}.bmap`, makeBmap(bytes).replace('<BlockSize> 4096', '<BlockSize>  4096'));
  await assert.rejects(flashImage({ fs: realFs, image, target: path.join(dir, 'out.img'), mountsFile: mounts }), {
    code: 'SF_ERR_FLASH_BMAP',
    message: /damaged/,
  });
});

test('bmap: --bmap without a bmap file is refused', async () => {
  const image = path.join(dir, 'base.img');
  await makeSparseImage(image, SIZE, EXTENTS);
  await assert.rejects(flashImage({ fs: realFs, image, target: path.join(dir, 'out.img'), bmap: 'require', mountsFile: mounts }), { code: 'SF_ERR_FLASH_BMAP' });
});

test('read-back catches a target that stored different bytes (fault-injecting FileSystem)', async () => {
  const image = path.join(dir, 'base.img');
  const target = path.join(dir, 'out.img');
  await makeSparseImage(image, SIZE, EXTENTS);
  let n = 0;
  const fs = wrapFs({
    onWrite(rec, data) {
      if (rec.file !== path.resolve(target) || ++n !== 2) return;
      const bad = Buffer.from(data);
      bad[bad.length >> 1]! ^= 0x40; // one bit flipped in the second write
      return bad;
    },
  });
  await assert.rejects(flashImage({ fs, image, target, mountsFile: mounts, bmap: 'none' }), (err: Error & { code?: string; details?: { start: number } }) => {
    assert.equal(err.code, 'SF_ERR_FLASH_VERIFY');
    assert.equal(err.details?.start, MiB - 4096);
    return true;
  });
  // --no-verify writes the same corrupted bytes and does not notice: the check is what catches it.
  n = 0;
  const r = await flashImage({ fs, image, target, mountsFile: mounts, bmap: 'none', verify: false });
  assert.equal(r.verifiedBytes, 0);
});

test('block device: zero blocks are written unless the device is promised zeroed', async () => {
  const image = path.join(dir, 'base.img');
  const target = path.join(dir, 'sdz');
  const bytes = await makeSparseImage(image, SIZE, EXTENTS);
  // A "block device" full of 0xee, and a sysfs that says how big it is.
  await fsp.writeFile(target, Buffer.alloc(SIZE + 4096, 0xee));
  const sys = path.join(dir, 'sys');
  await fsp.mkdir(path.join(sys, 'sdz'), { recursive: true });
  await fsp.writeFile(path.join(sys, 'sdz', 'size'), `${Math.ceil((SIZE + 4096) / 512)}\n`);
  const fs = wrapFs({ blockDevices: new Set([target]) });
  const r = await flashImage({ fs, image, target, mountsFile: mounts, sysBlockDir: sys });
  assert.equal(r.targetKind, 'block');
  assert.equal(r.dataBytes, DATA_BYTES);
  assert.equal(r.zeroBytesWritten, SIZE - DATA_BYTES);
  assert.equal(r.skippedBytes, 0);
  const written = await fsp.readFile(target);
  assert.ok(written.subarray(0, SIZE).equals(bytes));
  assert.equal(written[SIZE], 0xee, 'bytes past the image are left alone');

  // With --assume-zeroed the holes are skipped, so the old 0xee bytes show through: the promise matters.
  await fsp.writeFile(target, Buffer.alloc(SIZE + 4096, 0xee));
  const r2 = await flashImage({ fs, image, target, mountsFile: mounts, sysBlockDir: sys, assumeZeroed: true });
  assert.equal(r2.zeroBytesWritten, 0);
  assert.equal(r2.skippedBytes, SIZE - DATA_BYTES);
  assert.equal((await fsp.readFile(target))[2 * MiB], 0xee);
});

test('block device too small for the image is refused', async () => {
  const image = path.join(dir, 'base.img');
  const target = path.join(dir, 'sdz');
  await makeSparseImage(image, SIZE, EXTENTS);
  await fsp.writeFile(target, '');
  const sys = path.join(dir, 'sys');
  await fsp.mkdir(path.join(sys, 'sdz'), { recursive: true });
  await fsp.writeFile(path.join(sys, 'sdz', 'size'), '2048\n');
  const fs = wrapFs({ blockDevices: new Set([target]) });
  await assert.rejects(flashImage({ fs, image, target, mountsFile: mounts, sysBlockDir: sys }), { code: 'SF_ERR_FLASH_TARGET' });
  assert.equal(fs.writes.length, 0);
});

test('a mounted target, or one whose partition is mounted, is refused before any write', async () => {
  const image = path.join(dir, 'base.img');
  await makeSparseImage(image, SIZE, EXTENTS);
  const disk = path.join(dir, 'mmcblk9');
  await fsp.writeFile(disk, '');
  const fs = wrapFs();
  await fsp.writeFile(mounts, `${disk} /mnt/a\\040b ext4 rw 0 0\n`);
  await assert.rejects(flashImage({ fs, image, target: disk, mountsFile: mounts }), { code: 'SF_ERR_FLASH_MOUNTED', message: /mounted on \/mnt\/a b/ });
  await fsp.writeFile(mounts, `${disk}p2 /data ext4 rw 0 0\n`);
  await assert.rejects(flashImage({ fs, image, target: disk, mountsFile: mounts }), { code: 'SF_ERR_FLASH_MOUNTED' });
  assert.equal(fs.writes.length, 0);
  assert.equal((await fsp.stat(disk)).size, 0, 'the target was not even truncated');
});
