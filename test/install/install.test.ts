// `slotflip install` end to end on a simulated device, and every refusal of the core issue:
// each leaves the booted slot and the env byte-identical (and the inactive slot untouched
// where the refusal comes before any payload byte).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createSimDevice } from '../../src/simulator/device.js';
import { simRootfsImage } from '../../src/simulator/rootfs.js';
import { publicKeyPem } from '../../src/crypto/keys.js';
import { craftBundle, craftTar, manifestFor, newSigner, payloadEntry, signedHead, type Signer } from '../bundle/fixtures.js';
import { runCli } from '../support/cli.js';

const signer = newSigner();
const BOARD = 'host-sim';

async function device(slotSize = 4 * 1024 * 1024): Promise<{ dir: string; config: string }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-install-'));
  await fsp.writeFile(path.join(dir, 'trusted.pem'), publicKeyPem(signer.publicKey));
  const config = await createSimDevice({
    dir,
    deviceId: 'local',
    trustedKeys: [path.join(dir, 'trusted.pem')],
    base: { version: '1.0.0', kernel: 'ok', worker: {} },
    slotSize,
    worker: false,
  });
  await fsp.writeFile(path.join(dir, 'booted-slot'), 'a\n');
  return { dir, config };
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of ['slot-a.img', 'slot-b.img', 'uboot-env.bin', 'data/state.json']) {
    out[f] = createHash('sha256').update(await fsp.readFile(path.join(dir, f))).digest('hex');
  }
  return out;
}

const cli = (argv: string[]): ReturnType<typeof runCli> => runCli(argv);

const image = (version: string, size = 1024 * 1024): Buffer => simRootfsImage({ version, kernel: 'ok', worker: {} }, size);

test('install writes the inactive slot, reads it back and arms the trial in one env write; mark-good commits', async () => {
  const { dir, config } = await device();
  const img = image('2.0.0');
  const { bytes } = await craftBundle(signer, { rootfs: img }, { compatible: [BOARD], version: '2.0.0' });
  await fsp.writeFile(path.join(dir, 'b.sfb'), bytes);
  const before = await snapshot(dir);
  const r = await cli(['install', path.join(dir, 'b.sfb'), '--config', config, '--json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).slot, 'b');
  const after = await snapshot(dir);
  assert.equal(after['slot-a.img'], before['slot-a.img'], 'the booted slot is never written');
  assert.deepEqual((await fsp.readFile(path.join(dir, 'slot-b.img'))).subarray(0, img.length), img);
  const env = await cli(['env', 'print', '--device-config', config]);
  assert.match(env.out, /^slotflip_slot=b$/m);
  assert.match(env.out, /^upgrade_available=1$/m);
  assert.match(env.out, /^bootcount=0$/m);
  // Reboot into b (as the bootloader would), then commit.
  await fsp.writeFile(path.join(dir, 'booted-slot'), 'b\n');
  const good = await cli(['mark-good', '--config', config, '--json']);
  assert.equal(good.code, 0, good.err);
  const status = JSON.parse((await cli(['status', '--config', config, '--json'])).out);
  assert.equal(status.booted, 'b');
  assert.equal(status.trial, false);
  assert.equal(status.version, '2.0.0');
  assert.equal(status.committed, 'b');
});

test('rollback --local points the env back at the previous slot', async () => {
  const { dir, config } = await device();
  const { bytes } = await craftBundle(signer, { rootfs: image('2.0.0') }, { compatible: [BOARD], version: '2.0.0' });
  await fsp.writeFile(path.join(dir, 'b.sfb'), bytes);
  assert.equal((await cli(['install', path.join(dir, 'b.sfb'), '--config', config])).code, 0);
  const r = await cli(['rollback', '--local', '--config', config, '--json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual({ to: JSON.parse(r.out).to, needsReboot: JSON.parse(r.out).needsReboot }, { to: 'a', needsReboot: false });
  assert.match((await cli(['env', 'print', 'slotflip_slot', 'upgrade_available', '--device-config', config])).out, /slotflip_slot=a\nupgrade_available=0/);
});

interface Refusal {
  name: string;
  code: string;
  bundle(): Promise<Buffer>;
  /** The refusal comes after payload bytes were written to the inactive slot. */
  writesInactive?: boolean;
  slotSize?: number;
}

const other: Signer = newSigner();
const good = async (extra = {}): Promise<Buffer> => (await craftBundle(signer, { rootfs: image('2.0.0') }, { compatible: [BOARD], version: '2.0.0', ...extra })).bytes;
const headAnd = async (entries: { name: string; body?: Buffer; type?: 'file' | 'symlink' | 'link'; linkname?: string }[], extra = {}): Promise<Buffer> => {
  const img = image('2.0.0');
  const { manifestBytes, sigBytes } = signedHead(manifestFor(signer, [payloadEntry('rootfs', img)], { compatible: [BOARD], version: '2.0.0', ...extra }), signer);
  return craftTar([{ name: 'manifest.json', body: manifestBytes }, { name: 'manifest.sig', body: sigBytes }, ...entries]);
};

const REFUSALS: Refusal[] = [
  {
    name: 'tampered manifest',
    code: 'SF_ERR_SIGNATURE',
    async bundle() {
      const b = await good();
      const at = b.indexOf('"version": "2.0.0"');
      b.write('"version": "9.0.0"', at);
      return b;
    },
  },
  { name: 'signed by an untrusted key', code: 'SF_ERR_UNTRUSTED_KEY', bundle: async () => (await craftBundle(other, { rootfs: image('2.0.0') }, { compatible: [BOARD], version: '2.0.0' })).bytes },
  { name: 'payload digest mismatch', code: 'SF_ERR_DIGEST', writesInactive: true, bundle: () => headAnd([{ name: 'payloads/rootfs', body: image('2.0.1') }]) },
  {
    name: 'truncated tar',
    code: 'SF_ERR_BUNDLE_FORMAT',
    writesInactive: true,
    async bundle() {
      const b = await good();
      return b.subarray(0, b.length - 300 * 1024);
    },
  },
  { name: 'not a tar at all', code: 'SF_ERR_BUNDLE_FORMAT', bundle: async () => Buffer.from('this is not a bundle'.repeat(100)) },
  { name: 'absolute path entry', code: 'SF_ERR_UNSAFE_PATH', bundle: () => headAnd([{ name: '/payloads/rootfs', body: image('2.0.0') }]) },
  { name: 'entry climbing out with ..', code: 'SF_ERR_UNSAFE_PATH', bundle: () => headAnd([{ name: 'payloads/../../etc/passwd', body: image('2.0.0') }]) },
  { name: 'symlink entry', code: 'SF_ERR_LINK', bundle: () => headAnd([{ name: 'payloads/rootfs', type: 'symlink', linkname: '/dev/mmcblk0' }]) },
  { name: 'hard link entry', code: 'SF_ERR_LINK', bundle: () => headAnd([{ name: 'payloads/rootfs', type: 'link', linkname: 'manifest.json' }]) },
  {
    name: 'duplicate manifest',
    code: 'SF_ERR_BUNDLE_FORMAT',
    async bundle() {
      const { manifestBytes } = signedHead(manifestFor(signer, [payloadEntry('rootfs', image('2.0.0'))], { compatible: [BOARD], version: '2.0.0' }), signer);
      return craftTar([{ name: 'manifest.json', body: manifestBytes }, { name: 'manifest.json', body: manifestBytes }]);
    },
  },
  { name: 'missing manifest', code: 'SF_ERR_BUNDLE_FORMAT', bundle: () => craftTar([{ name: 'payloads/rootfs', body: image('2.0.0') }]) },
  { name: 'payload larger than the slot', code: 'SF_ERR_SLOT_TOO_SMALL', slotSize: 512 * 1024, bundle: () => good() },
  { name: 'wrong board', code: 'SF_ERR_WRONG_BOARD', bundle: () => good({ compatible: ['qemu-arm64-virt'] }) },
  { name: 'older version', code: 'SF_ERR_DOWNGRADE', bundle: () => good({ version: '0.9.0' }) },
  { name: 'same version again', code: 'SF_ERR_DOWNGRADE', bundle: () => good({ version: '1.0.0' }) },
  { name: 'expired manifest', code: 'SF_ERR_EXPIRED', bundle: () => good({ expires: '2020-01-01T00:00:00.000Z' }) },
];

for (const r of REFUSALS) {
  test(`refused with ${r.code}, device untouched: ${r.name}`, async () => {
    const { dir, config } = await device(r.slotSize);
    await fsp.writeFile(path.join(dir, 'bad.sfb'), await r.bundle());
    const before = await snapshot(dir);
    const res = await cli(['install', path.join(dir, 'bad.sfb'), '--config', config, '--json']);
    assert.equal(res.code, 1, `exit code; stderr: ${res.err}`);
    assert.equal(JSON.parse(res.out).error.code, r.code, res.err);
    assert.match(res.err, new RegExp(`^error ${r.code}: `));
    const after = await snapshot(dir);
    assert.equal(after['slot-a.img'], before['slot-a.img'], 'booted slot changed');
    assert.equal(after['uboot-env.bin'], before['uboot-env.bin'], 'env changed');
    if (!r.writesInactive) assert.equal(after['slot-b.img'], before['slot-b.img'], 'inactive slot changed');
    await fsp.rm(dir, { recursive: true, force: true });
  });
}

test('a lower security version than the committed floor is refused', async () => {
  const { dir, config } = await device();
  const statePath = path.join(dir, 'data', 'state.json');
  const state = JSON.parse(await fsp.readFile(statePath, 'utf8'));
  state.securityFloor = 5;
  await fsp.writeFile(statePath, JSON.stringify(state));
  await fsp.writeFile(path.join(dir, 'b.sfb'), await good({ securityVersion: 4 }));
  const before = await snapshot(dir);
  const res = await cli(['install', path.join(dir, 'b.sfb'), '--config', config, '--json']);
  assert.equal(JSON.parse(res.out).error.code, 'SF_ERR_SECURITY_VERSION');
  assert.deepEqual(await snapshot(dir), before);
});

// Big enough for the read-back to run on a worker behind the writer, with syncs along the way.
const BIG = 40 * 1024 * 1024;

test('a payload bigger than the sync interval installs with the read-back running behind the writer', async () => {
  const { dir, config } = await device(64 * 1024 * 1024);
  const img = image('2.0.0', BIG);
  const { bytes } = await craftBundle(signer, { rootfs: img }, { compatible: [BOARD], version: '2.0.0' });
  await fsp.writeFile(path.join(dir, 'b.sfb'), bytes);
  const r = await cli(['install', path.join(dir, 'b.sfb'), '--config', config, '--json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).bytes, BIG);
  assert.equal(JSON.parse(r.out).read, 'direct', 'a plain bundle file is copied from its offsets');
  const slot = await fsp.readFile(path.join(dir, 'slot-b.img'));
  assert.equal(createHash('sha256').update(slot.subarray(0, BIG)).digest('hex'), createHash('sha256').update(img).digest('hex'));
  assert.match((await cli(['env', 'print', 'upgrade_available', '--device-config', config])).out, /upgrade_available=1/);
  await fsp.rm(dir, { recursive: true, force: true });
});

test('a bundle from stdin goes through the tar stream and installs the same bytes', async () => {
  const { dir, config } = await device(64 * 1024 * 1024);
  const img = image('2.0.0', 3 * 1024 * 1024 + 5);
  const { bytes } = await craftBundle(signer, { rootfs: img }, { compatible: [BOARD], version: '2.0.0' });
  const r = await runCli(['install', '-', '--config', config, '--json'], {}, bytes);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).read, 'stream');
  assert.ok((await fsp.readFile(path.join(dir, 'slot-b.img'))).subarray(0, img.length).equals(img));
  await fsp.rm(dir, { recursive: true, force: true });
});

test('a bundle from a FIFO (read once) goes through the tar stream, never read a second time', async () => {
  const { dir, config } = await device(64 * 1024 * 1024);
  const img = image('2.0.0', 3 * 1024 * 1024 + 5);
  const { bytes } = await craftBundle(signer, { rootfs: img }, { compatible: [BOARD], version: '2.0.0' });
  const fifo = path.join(dir, 'bundle.fifo');
  execFileSync('mkfifo', [fifo]);
  const writer = createWriteStream(fifo); // opens once the install opens the other end
  writer.end(bytes);
  const r = await cli(['install', fifo, '--config', config, '--json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).read, 'stream');
  assert.ok((await fsp.readFile(path.join(dir, 'slot-b.img'))).subarray(0, img.length).equals(img));
  await fsp.rm(dir, { recursive: true, force: true });
});

// From a file the rootfs is proven by the read-back alone and the file is hashed only to place
// the blame; from stdin the stream is hashed as it goes. Either way: SF_ERR_DIGEST.
for (const from of ['file', 'stdin'] as const) {
  test(`a big bundle damaged near its end is the bundle's fault (SF_ERR_DIGEST), not the read-back's; env and booted slot untouched (${from})`, async () => {
    const { dir, config } = await device(64 * 1024 * 1024);
    const { bytes } = await craftBundle(signer, { rootfs: image('2.0.0', BIG) }, { compatible: [BOARD], version: '2.0.0' });
    bytes[bytes.length - 1024 - 4096]! ^= 0x40; // inside the payload's last bytes, after the first synced ranges were read back
    await fsp.writeFile(path.join(dir, 'bad.sfb'), bytes);
    const before = await snapshot(dir);
    const res = await (from === 'file' ? cli(['install', path.join(dir, 'bad.sfb'), '--config', config, '--json']) : runCli(['install', '-', '--config', config, '--json'], {}, bytes));
    assert.equal(res.code, 1, res.err);
    const error = JSON.parse(res.out).error;
    assert.equal(error.code, 'SF_ERR_DIGEST', res.err);
    assert.match(error.message, /payload rootfs: SHA-256 [0-9a-f]{64} differs from the manifest's/);
    const after = await snapshot(dir);
    assert.equal(after['slot-a.img'], before['slot-a.img'], 'booted slot changed');
    assert.equal(after['uboot-env.bin'], before['uboot-env.bin'], 'env changed');
    await fsp.rm(dir, { recursive: true, force: true });
  });
}
