// What the image builder puts into a slot, checked on the ext4 image itself (debugfs rdump, no
// mount): the init each variant gets, the device config and extra files, the board profiles the
// agent loads, Node 18, and no absolute symlink anywhere (one would point at the host's files).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildUpdateImage, recordBaseSlot } from '../../qemu/image.js';
import { createHash } from 'node:crypto';
import { StateStore } from '../../src/install/state.js';
import { realFs } from '../../src/platform/fs.js';
import { run } from '../../qemu/exec.js';
import { BOARD, scenario } from './report.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `slotflip-qemu-image-${BOARD}-`));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function unpack(image: string, name: string): Promise<string> {
  const out = path.join(dir, name);
  fs.mkdirSync(out);
  await run('debugfs', ['-R', `rdump / ${out}`, image]);
  return out;
}

function absoluteLinks(root: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink() && fs.readlinkSync(p).startsWith('/')) found.push(path.relative(root, p));
      else if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return found;
}

let good: string;
before(async () => {
  const image = await buildUpdateImage({
    board: BOARD, version: '7.1.0', out: path.join(dir, 'good.ext4'),
    deviceConfig: { deviceId: 'dev-7', board: BOARD }, files: { '/etc/slotflip/keys/release.pub': 'KEY\n' },
  });
  good = await unpack(image.image, 'good');
});

test(`${BOARD}: a good slot carries init, Node 18, the bundle, the config, the profiles and only relative links`, () =>
  scenario('image-contents', async () => {
    assert.match(fs.readFileSync(path.join(good, 'usr/sbin/init'), 'utf8'), /SLOTFLIP-BOOTED/);
    const env = fs.readFileSync(path.join(good, 'etc/slotflip/image.env'), 'utf8');
    assert.match(env, /^VERSION='7\.1\.0'$/m);
    assert.match(env, /^DEVICE_ID='dev-7'$/m);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(good, 'etc/slotflip/device.json'), 'utf8')), { deviceId: 'dev-7', board: BOARD });
    assert.equal(fs.readFileSync(path.join(good, 'etc/slotflip/keys/release.pub'), 'utf8'), 'KEY\n');
    assert.ok(fs.existsSync(path.join(good, `usr/share/slotflip/board-profiles/${BOARD}.json`)));
    assert.ok(fs.statSync(path.join(good, 'usr/lib/slotflip/slotflip.mjs')).size > 1000);
    assert.ok(fs.existsSync(path.join(good, 'usr/share/nodejs/acorn')), 'libnode reads its JS from /usr/share/nodejs');
    assert.equal(fs.readlinkSync(path.join(good, 'bin')), 'usr/bin');
    assert.deepEqual(absoluteLinks(good), []);
    const fwEnv = fs.readFileSync(path.join(good, 'etc/fw_env.config'), 'utf8').trim().split('\n');
    assert.equal(fwEnv.length, 2, 'both env copies');
  }),
);

test(`${BOARD}: broken variants get the init or worker that breaks them`, () =>
  scenario('image-variants', async () => {
    const panic = await unpack((await buildUpdateImage({ board: BOARD, version: '8', variant: 'panic', out: path.join(dir, 'p.ext4') })).image, 'panic');
    assert.match(fs.readFileSync(path.join(panic, 'usr/sbin/init'), 'utf8'), /^exit 1$/m);
    const hang = await unpack((await buildUpdateImage({ board: BOARD, version: '8', variant: 'hang', out: path.join(dir, 'h.ext4') })).image, 'hang');
    assert.match(fs.readFileSync(path.join(hang, 'usr/sbin/init'), 'utf8'), /exec 3>\/dev\/watchdog/);
    const worker = path.join(dir, 'worker');
    fs.mkdirSync(worker);
    fs.writeFileSync(path.join(worker, 'main.mjs'), 'heartbeat();\n');
    fs.writeFileSync(path.join(worker, 'README'), 'x\n');
    const sick = await unpack(
      (await buildUpdateImage({ board: BOARD, version: '8', variant: 'unhealthy-worker', workerDir: worker, out: path.join(dir, 'u.ext4') })).image,
      'sick',
    );
    assert.doesNotMatch(fs.readFileSync(path.join(sick, 'opt/slotflip-worker/main.mjs'), 'utf8'), /heartbeat\(\)/);
    assert.equal(fs.readFileSync(path.join(sick, 'opt/slotflip-worker/README'), 'utf8'), 'x\n');
    assert.match(fs.readFileSync(path.join(sick, 'usr/sbin/init'), 'utf8'), /SLOTFLIP-BOOTED/);
  }),
);

test('the base image\'s data partition records slot A for the agent (state.json under the config\'s dataDir)', async () => {
  const image = path.join(dir, 'base-slot.img');
  fs.writeFileSync(image, Buffer.alloc(3 << 20, 9));
  const tree = path.join(dir, 'data-tree');
  assert.equal(await recordBaseSlot(tree, { dataDir: '/data/slotflip' }, image, '1.0.0'), '/slotflip/state.json');
  const state = await new StateStore(realFs, path.join(tree, 'slotflip')).load();
  assert.deepEqual({ ...state.slots.a, installedAt: undefined }, {
    version: '1.0.0', securityVersion: 0, size: 3 << 20, releaseId: 'base-image', installedAt: undefined,
    sha256: createHash('sha256').update(fs.readFileSync(image)).digest('hex'),
  });
  assert.equal(state.committed, 'a');
  assert.equal(await recordBaseSlot(path.join(dir, 'elsewhere'), { dataDir: '/var/lib/slotflip' }, image, '1.0.0'), undefined);
  assert.equal(await recordBaseSlot(path.join(dir, 'none'), undefined, image, '1.0.0'), undefined);
});
