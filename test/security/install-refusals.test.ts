// Refusals of a local install (`slotflip install`, the same install path the agent uses) on a
// simulated device: each one reports its typed code and leaves the booted slot and the boot
// env byte-identical; refusals found before the first payload byte change no file at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { publicKeyPem } from '../../src/crypto/keys.js';
import { createSimDevice } from '../../src/simulator/device.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { StateStore } from '../../src/install/state.js';
import { realFs } from '../../src/platform/fs.js';
import { serializeManifest, type Manifest } from '../../src/bundle/manifest.js';
import { serializeSignatureFile, signManifest } from '../../src/bundle/signature.js';
import { endorseKey } from '../../src/bundle/endorsement.js';
import { craftTar, manifestFor, newSigner, payloadEntry, samplePayload, type Signer } from '../bundle/fixtures.js';

const BOARD = 'host-sim';
const operator = newSigner();
const rotated = newSigner();
const stranger = newSigner();

interface Dev {
  dir: string;
  config: string;
}

async function makeDevice(t: { after(fn: () => Promise<void>): void }, opts: { slotSize?: number; revokedKeys?: string[]; securityFloor?: number } = {}): Promise<Dev> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-sec-install-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const pub = path.join(dir, 'operator.pem');
  await fsp.writeFile(pub, publicKeyPem(operator.publicKey));
  const config = await createSimDevice({ dir: path.join(dir, 'dev'), deviceId: 'd1', trustedKeys: [pub], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: opts.slotSize ?? 1024 * 1024, worker: false });
  // The bootloader simulator booted slot a (what a real device learns from /proc/cmdline).
  await fsp.writeFile(path.join(dir, 'dev', 'booted-slot'), 'a\n');
  if (opts.revokedKeys) {
    const json = JSON.parse(await fsp.readFile(config, 'utf8'));
    await fsp.writeFile(config, JSON.stringify({ ...json, revokedKeys: opts.revokedKeys }));
  }
  if (opts.securityFloor !== undefined) {
    const floor = opts.securityFloor;
    await new StateStore(realFs, loadDeviceConfig(config).dataDir).update((s) => {
      s.slots.a!.securityVersion = floor;
    });
  }
  return { dir: path.join(dir, 'dev'), config };
}

/** SHA-256 of every file under the device folder, by relative path. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    out.set(path.relative(dir, file), createHash('sha256').update(await fsp.readFile(file)).digest('hex'));
  }
  return out;
}

/** What must never change on a refusal: the booted slot and the boot env. */
async function bootedAndEnv(dev: Dev): Promise<{ slotA: string; env: string }> {
  const c = loadDeviceConfig(dev.config);
  const hash = async (f: string) => createHash('sha256').update(await fsp.readFile(f)).digest('hex');
  const envFiles = c.env.backend === 'file' ? [c.env.path] : [...new Set(c.env.copies.map((e) => e.device))];
  return { slotA: await hash(c.slots.a.device), env: (await Promise.all(envFiles.map(hash))).join(' ') };
}

async function install(dev: Dev, bundle: Buffer): Promise<{ exit: number; code: string | undefined; err: string }> {
  const out = new PassThrough().resume();
  const err = new PassThrough();
  let text = '';
  err.on('data', (c: Buffer) => (text += c.toString()));
  const exit = await main(['install', '-', '--config', dev.config, '--no-progress'], { out, err, stdin: Readable.from([bundle]), env: {} });
  return { exit, code: /^error (SF_ERR_\w+)/m.exec(text)?.[1], err: text };
}

function manifest(signer: Signer, data: Buffer, extra: Partial<Manifest> = {}): Manifest {
  return manifestFor(signer, [payloadEntry('rootfs', data)], { compatible: [BOARD], version: '2.0.0', ...extra });
}

/** A bundle exactly as given: manifest signed by `by` (with an endorsement if given), then payload bytes. */
async function bundleOf(m: Manifest, by: Signer | null, payload: Buffer, opts: { endorsement?: ReturnType<typeof endorseKey>; flipManifestByte?: boolean } = {}): Promise<Buffer> {
  let manifestBytes = serializeManifest(m);
  const entries = [];
  const sig = by ? signManifest(manifestBytes, by.privateKey, by.publicKey, opts.endorsement) : undefined;
  if (opts.flipManifestByte) {
    manifestBytes = Buffer.from(manifestBytes);
    manifestBytes[manifestBytes.indexOf('2.0.0') + 4] = '1'.charCodeAt(0); // version 2.0.1: still valid JSON
  }
  entries.push({ name: 'manifest.json', body: manifestBytes });
  if (sig) entries.push({ name: 'manifest.sig', body: serializeSignatureFile(sig) });
  entries.push({ name: 'payloads/rootfs', body: payload });
  return craftTar(entries);
}

const data = samplePayload(96 * 1024, 3);

test('control: a good bundle, and a rotated one endorsed by the trusted key, install and arm the trial', async (t) => {
  for (const [signer, endorsement] of [[operator, undefined], [rotated, endorseKey(rotated.publicKey, operator.privateKey)]] as const) {
    const dev = await makeDevice(t);
    const before = await bootedAndEnv(dev);
    const r = await install(dev, await bundleOf(manifest(signer, data), signer, data, endorsement ? { endorsement } : {}));
    assert.equal(r.exit, 0, r.err);
    const after = await bootedAndEnv(dev);
    assert.equal(after.slotA, before.slotA, 'the booted slot is never written');
    assert.notEqual(after.env, before.env, 'the env was flipped to try slot b');
    assert.equal((await new StateStore(realFs, loadDeviceConfig(dev.config).dataDir).load()).slots.b?.version, '2.0.0');
  }
});

// Refusals decided before any payload byte is written: nothing on the device changes at all.
const early: { name: string; code: string; device?: Parameters<typeof makeDevice>[1]; bundle: () => Promise<Buffer> }[] = [
  { name: 'unsigned (no manifest.sig)', code: 'SF_ERR_BUNDLE_FORMAT', bundle: () => bundleOf(manifest(operator, data), null, data) },
  {
    name: 'unsigned (a zero signature)',
    code: 'SF_ERR_SIGNATURE',
    bundle: async () => {
      const manifestBytes = serializeManifest(manifest(operator, data));
      const sig = serializeSignatureFile({ format: 'slotflip-sig/1', keyId: operator.keyId, signature: Buffer.alloc(64).toString('base64') });
      return craftTar([{ name: 'manifest.json', body: manifestBytes }, { name: 'manifest.sig', body: sig }, { name: 'payloads/rootfs', body: data }]);
    },
  },
  { name: 'wrongly signed (a key the device does not trust)', code: 'SF_ERR_UNTRUSTED_KEY', bundle: () => bundleOf(manifest(stranger, data), stranger, data) },
  { name: 'wrongly signed (manifest changed after signing)', code: 'SF_ERR_SIGNATURE', bundle: () => bundleOf(manifest(operator, data), operator, data, { flipManifestByte: true }) },
  { name: 'signed by a revoked key', code: 'SF_ERR_KEY_REVOKED', device: { revokedKeys: [operator.keyId] }, bundle: () => bundleOf(manifest(operator, data), operator, data) },
  { name: 'signed by a revoked new key, though endorsed', code: 'SF_ERR_KEY_REVOKED', device: { revokedKeys: [rotated.keyId] }, bundle: () => bundleOf(manifest(rotated, data), rotated, data, { endorsement: endorseKey(rotated.publicKey, operator.privateKey) }) },
  { name: 'endorsed by a key the device does not trust', code: 'SF_ERR_UNTRUSTED_KEY', bundle: () => bundleOf(manifest(rotated, data), rotated, data, { endorsement: endorseKey(rotated.publicKey, stranger.privateKey) }) },
  { name: 'endorsement expired', code: 'SF_ERR_ENDORSEMENT_EXPIRED', bundle: () => bundleOf(manifest(rotated, data), rotated, data, { endorsement: endorseKey(rotated.publicKey, operator.privateKey, { notAfter: new Date(Date.now() - 1000) }) }) },
  { name: 'expired manifest', code: 'SF_ERR_EXPIRED', bundle: () => bundleOf(manifest(operator, data, { expires: '2020-01-01T00:00:00Z' }), operator, data) },
  { name: 'downgrade (older version)', code: 'SF_ERR_DOWNGRADE', bundle: () => bundleOf(manifest(operator, data, { version: '0.9.0' }), operator, data) },
  { name: 'downgrade (same version again)', code: 'SF_ERR_DOWNGRADE', bundle: () => bundleOf(manifest(operator, data, { version: '1.0.0' }), operator, data) },
  { name: 'downgrade (newer version, lower security version)', code: 'SF_ERR_SECURITY_VERSION', device: { securityFloor: 3 }, bundle: () => bundleOf(manifest(operator, data, { securityVersion: 2 }), operator, data) },
  { name: 'wrong board', code: 'SF_ERR_WRONG_BOARD', bundle: () => bundleOf(manifest(operator, data, { compatible: ['other-board'] }), operator, data) },
  { name: 'slot too small for the payload', code: 'SF_ERR_SLOT_TOO_SMALL', device: { slotSize: 64 * 1024 }, bundle: () => bundleOf(manifest(operator, data), operator, data) },
];

for (const c of early) {
  test(`refuses ${c.name} (${c.code}) and changes no file on the device`, async (t) => {
    const dev = await makeDevice(t, c.device);
    const before = await snapshot(dev.dir);
    const r = await install(dev, await c.bundle());
    assert.equal(r.code, c.code, r.err);
    assert.equal(r.exit, 1);
    assert.deepEqual(await snapshot(dev.dir), before);
  });
}

// Refusals found while the payload streams: the inactive slot may hold garbage, but the booted
// slot and the env are byte-identical and slot b is recorded as holding nothing.
test('refuses a mixed-and-matched payload (bundle X\'s payload under bundle Y\'s manifest): SF_ERR_DIGEST', async (t) => {
  const dev = await makeDevice(t);
  const before = await bootedAndEnv(dev);
  const x = samplePayload(data.length, 9);
  assert.equal(x.length, data.length);
  const r = await install(dev, await bundleOf(manifest(operator, data), operator, x));
  assert.equal(r.code, 'SF_ERR_DIGEST', r.err);
  assert.deepEqual(await bootedAndEnv(dev), before);
  const state = await new StateStore(realFs, loadDeviceConfig(dev.config).dataDir).load();
  assert.equal(state.slots.b, null);
  assert.equal(state.committed, 'a');
});

test('refuses endless data (a payload entry longer than the manifest says): SF_ERR_OVERSIZE', async (t) => {
  const dev = await makeDevice(t);
  const before = await bootedAndEnv(dev);
  const longer = Buffer.concat([data, Buffer.alloc(512 * 1024, 0x5a)]);
  const r = await install(dev, await bundleOf(manifest(operator, data), operator, longer));
  assert.equal(r.code, 'SF_ERR_OVERSIZE', r.err);
  assert.deepEqual(await bootedAndEnv(dev), before);
  const cfg = loadDeviceConfig(dev.config);
  assert.ok((await fsp.stat(cfg.slots.b.device)).size <= data.length, 'nothing past the manifest\'s size reached the slot');
  assert.equal((await new StateStore(realFs, cfg.dataDir).load()).slots.b, null);
});
