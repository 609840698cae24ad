// Cross-check with the real tools users have: Debian's libubootenv fw_printenv/fw_setenv
// (libubootenv-tool) and U-Boot's mkenvimage (u-boot-tools), both ways, single and redundant,
// torn copies, the flags wrap-around, and negative offsets on a real (loop) block device.
// Fails, never skips, when a tool is missing: `node scripts/test.mjs system` installs them.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { initBootEnv, openBootEnv } from '../../src/bootenv/index.js';
import { decodeImage, encodeData, encodeImage } from '../../src/bootenv/uboot-format.js';
import type { EnvLocation } from '../../src/config/device.js';
import { main } from '../../src/cli/main.js';

const SIZE = 0x4000;

function tool(name: string, args: string[], allowFail = false): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(name, args, { encoding: 'utf8' });
  if (r.error) assert.fail(`${name} cannot run (${r.error.message}); install libubootenv-tool and u-boot-tools`);
  if (!allowFail && r.status !== 0) assert.fail(`${name} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function slotflip(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  const code = await main(argv, { out, err, stdin: new PassThrough(), env: {} });
  return { code, out: Buffer.concat(o).toString(), err: Buffer.concat(e).toString() };
}

interface Layout {
  dir: string;
  image: string;
  config: string;
  loc: EnvLocation;
  redundant: boolean;
}

function layout(t: TestContext, redundant: boolean): Layout {
  const dir = mkdtempSync(join(tmpdir(), 'sf-fwenv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const image = join(dir, 'env.bin');
  const copies = redundant ? [{ device: image, offset: 0, size: SIZE }, { device: image, offset: SIZE, size: SIZE }] : [{ device: image, offset: 0, size: SIZE }];
  // Sizes in hex with 0x: fw_env.config reads sizes as hex even without it.
  const config = join(dir, 'fw_env.config');
  writeFileSync(config, copies.map((c) => `${c.device} 0x${c.offset.toString(16)} 0x${c.size.toString(16)}\n`).join(''));
  return { dir, image, config, loc: { backend: 'uboot', copies }, redundant };
}

const fwPrint = (l: Layout, ...names: string[]) => tool('fw_printenv', ['-c', l.config, ...names]).stdout;
const fwSet = (l: Layout, ...pairs: string[]) => tool('fw_setenv', ['-c', l.config, ...pairs]);
const copy = (l: Layout, i: number) => decodeImage(readFileSync(l.image).subarray(i * SIZE, (i + 1) * SIZE), l.redundant);

for (const redundant of [false, true]) {
  const kind = redundant ? 'redundant' : 'single';

  test(`${kind}: what slotflip env set writes, fw_printenv reads`, async (t) => {
    const l = layout(t, redundant);
    await initBootEnv(l.loc, { bootcmd: 'run distro_bootcmd', bootlimit: '3' });
    const r = await slotflip('env', 'set', '--config', l.config, 'bootargs=console=ttyS0,115200 root=/dev/mmcblk0p2 rw', 'upgrade_available=1', 'bootcount=0', 'bootlimit=');
    assert.equal(r.code, 0, r.err);
    assert.equal(fwPrint(l), 'bootargs=console=ttyS0,115200 root=/dev/mmcblk0p2 rw\nbootcmd=run distro_bootcmd\nbootcount=0\nupgrade_available=1\n');
    assert.equal(fwPrint(l, 'bootargs'), 'bootargs=console=ttyS0,115200 root=/dev/mmcblk0p2 rw\n');
  });

  test(`${kind}: what fw_setenv writes, slotflip env print reads, byte for byte like fw_printenv`, async (t) => {
    const l = layout(t, redundant);
    await initBootEnv(l.loc, { a: '1' });
    fwSet(l, 'bootcmd', 'run a; run b', 'slotflip_slot', 'b', 'a', 'x=y z');
    fwSet(l, 'spaces', '  leading and trailing  ');
    const ours = await slotflip('env', 'print', '--config', l.config);
    assert.equal(ours.code, 0, ours.err);
    assert.equal(ours.out, fwPrint(l));
    assert.deepEqual(Object.fromEntries(await openBootEnv(l.loc).read()), { a: 'x=y z', bootcmd: 'run a; run b', slotflip_slot: 'b', spaces: '  leading and trailing  ' });
  });

  test(`${kind}: a fresh env from slotflip env init is byte-identical to mkenvimage's`, async (t) => {
    const l = layout(t, redundant);
    const input = join(l.dir, 'env.txt');
    writeFileSync(input, '# comment\nbootcmd=run a; run b\n\nbootlimit=3\nslotflip_slot=a\n');
    const mk = join(l.dir, 'mk.bin');
    tool('mkenvimage', [...(redundant ? ['-r'] : []), '-p', '0', '-s', `0x${SIZE.toString(16)}`, '-o', mk, input]);
    assert.equal((await slotflip('env', 'init', '--config', l.config, '--input', input)).code, 0);
    assert.ok(readFileSync(l.image).subarray(0, SIZE).equals(readFileSync(mk)), 'copy 0 equals mkenvimage output');
  });
}

test('mkenvimage images (default 0xff padding, single and -r) are read by slotflip', async (t) => {
  const l1 = layout(t, false);
  const input = join(l1.dir, 'env.txt');
  writeFileSync(input, 'bootcmd=run a; run b\nempty_later=x\nip=10.0.0.2\n');
  tool('mkenvimage', ['-s', `0x${SIZE.toString(16)}`, '-o', l1.image, input]);
  assert.equal((await slotflip('env', 'print', '--config', l1.config)).out, fwPrint(l1));
  assert.equal((await openBootEnv(l1.loc).read()).get('bootcmd'), 'run a; run b');

  const l2 = layout(t, true);
  const mk = join(l2.dir, 'mk.bin');
  tool('mkenvimage', ['-r', '-s', `0x${SIZE.toString(16)}`, '-o', mk, input]);
  // One redundant image in copy 0, erased flash (0xff, bad CRC) in copy 1.
  writeFileSync(l2.image, Buffer.concat([readFileSync(mk), Buffer.alloc(SIZE, 0xff)]));
  assert.equal((await slotflip('env', 'print', '--config', l2.config)).out, fwPrint(l2));
  await openBootEnv(l2.loc).update({ ip: '10.0.0.3' });
  assert.equal(copy(l2, 1).flags, 2, 'mkenvimage -r writes flags 1; the next copy gets 2');
  assert.equal(fwPrint(l2, 'ip'), 'ip=10.0.0.3\n');
});

test('redundant: slotflip and fw_setenv take turns, each reading the other, flags counting on', async (t) => {
  const l = layout(t, true);
  await initBootEnv(l.loc, { n: '0' });
  const env = openBootEnv(l.loc);
  for (let i = 1; i <= 6; i++) {
    if (i % 2) await env.update({ n: String(i) });
    else fwSet(l, 'n', String(i));
    assert.equal(fwPrint(l, 'n'), `n=${i}\n`);
    assert.equal((await env.read()).get('n'), String(i));
    const written = i % 2 ? 1 : 0; // copy 0 starts current, so writes go 1, 0, 1, ...
    assert.equal(copy(l, written).flags, i + 1, `write ${i} went to copy ${written} with flags ${i + 1}`);
  }
});

test('redundant: a torn copy is passed over the same way by both, whoever wrote it', async (t) => {
  const l = layout(t, true);
  await initBootEnv(l.loc, { v: 'old' });
  fwSet(l, 'v', 'new by fw_setenv'); // goes to copy 1
  const bytes = readFileSync(l.image);
  bytes.fill(0x5a, SIZE + 100, SIZE + 200); // a write that stopped part way
  writeFileSync(l.image, bytes);
  assert.equal(copy(l, 1).crcOk, false);
  assert.equal(fwPrint(l, 'v'), 'v=old\n');
  assert.equal((await openBootEnv(l.loc).read()).get('v'), 'old');

  await openBootEnv(l.loc).update({ v: 'new by slotflip' }); // into the torn copy 1
  assert.equal(fwPrint(l, 'v'), 'v=new by slotflip\n');
  const again = readFileSync(l.image);
  again[SIZE + 8] ^= 0xff; // now tear slotflip's write
  writeFileSync(l.image, again);
  assert.equal(fwPrint(l, 'v'), 'v=old\n');
  assert.equal((await slotflip('env', 'print', '--config', l.config, 'v')).out, 'v=old\n');
});

test('redundant: flags wrap-around 255 -> 0 agrees both ways', async (t) => {
  const l = layout(t, true);
  const image = (v: string, flags: number) => encodeImage(encodeData(new Map([['v', v]]), SIZE - 5), true, flags);
  writeFileSync(l.image, Buffer.concat([image('at254', 254), image('at255', 255)]));
  assert.equal(fwPrint(l), 'v=at255\n');
  fwSet(l, 'v', 'fw wrapped'); // into copy 0 with flags 0
  assert.equal(copy(l, 0).flags, 0);
  assert.equal((await openBootEnv(l.loc).read()).get('v'), 'fw wrapped', 'slotflip takes 0 as newer than 255');

  writeFileSync(l.image, Buffer.concat([image('at254', 254), image('at255', 255)]));
  await openBootEnv(l.loc).update({ v: 'slotflip wrapped' });
  assert.equal(copy(l, 0).flags, 0);
  assert.equal(fwPrint(l), 'v=slotflip wrapped\n', 'fw_printenv takes 0 as newer than 255');
});

test('no valid copy: slotflip refuses; fw_setenv too unless given a default env (-f)', async (t) => {
  for (const redundant of [false, true]) {
    const l = layout(t, redundant);
    writeFileSync(l.image, Buffer.alloc(redundant ? 2 * SIZE : SIZE));
    const ours = await slotflip('env', 'set', '--config', l.config, 'a=1');
    assert.equal(ours.code, 1);
    assert.match(ours.err, /SF_ERR_ENV_CRC/);
    assert.notEqual(tool('fw_setenv', ['-c', l.config, 'a', '1'], true).status, 0, 'fw_setenv without -f refuses');
    const empty = join(l.dir, 'empty-defaults');
    writeFileSync(empty, '');
    tool('fw_setenv', ['-c', l.config, '-f', empty, 'a', '1']);
    assert.deepEqual([...(await openBootEnv(l.loc).read())], [['a', '1']]);
  }
});

test('negative offsets on a real block device (loop device): both tools agree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sf-fwloop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, Buffer.alloc(1024 * 1024, 0xee));
  const loop = execFileSync('losetup', ['--find', '--show', disk], { encoding: 'utf8' }).trim();
  t.after(() => execFileSync('losetup', ['-d', loop]));
  const config = join(dir, 'fw_env.config');
  writeFileSync(config, `${loop} -0x8000 0x4000\n${loop} -0x4000 0x4000\n`);
  const l: Layout = { dir, image: loop, config, redundant: true, loc: { backend: 'uboot', copies: [{ device: loop, offset: -0x8000, size: SIZE }, { device: loop, offset: -0x4000, size: SIZE }] } };
  assert.equal((await slotflip('env', 'init', '--config', config, 'where=end of disk')).code, 0);
  assert.equal(fwPrint(l), 'where=end of disk\n');
  fwSet(l, 'by', 'fw_setenv');
  assert.deepEqual(Object.fromEntries(await openBootEnv(l.loc).read()), { by: 'fw_setenv', where: 'end of disk' });
  const head = readFileSync(loop).subarray(0, 1024 * 1024 - 0x8000);
  assert.ok(head.equals(Buffer.alloc(head.length, 0xee)), 'nothing before the env areas was touched');
});
