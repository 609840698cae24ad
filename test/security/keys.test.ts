// Which signatures a device believes: several trusted keys at once, key rotation through an
// endorsement by an older key (one step, bounded in time), and revocation winning over both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { serializeManifest } from '../../src/bundle/manifest.js';
import { serializeSignatureFile, signManifest, type Endorsement } from '../../src/bundle/signature.js';
import { verifyManifest } from '../../src/bundle/verify.js';
import { acceptEndorsement, endorseKey, endorsementStatement, parseEndorsement } from '../../src/bundle/endorsement.js';
import { createBundle } from '../../src/bundle/create.js';
import { verifyBundle } from '../../src/bundle/check.js';
import { signDetached } from '../../src/crypto/sign.js';
import { main } from '../../src/cli/main.js';
import { manifestFor, newSigner, payloadEntry, samplePayload, type Signer } from '../bundle/fixtures.js';

const oldKey = newSigner();
const newKey = newSigner();
const stranger = newSigner();

function code(expected: string) {
  return (err: { code?: string }): boolean => {
    assert.equal(err.code, expected, String((err as Error).message));
    return true;
  };
}

/** Manifest bytes signed by `signer`, with an endorsement in manifest.sig when given. */
function signed(signer: Signer, endorsement?: Endorsement, extra: object = {}): { manifestBytes: Buffer; sigBytes: Buffer } {
  const manifestBytes = serializeManifest(manifestFor(signer, [payloadEntry('rootfs', Buffer.from('payload'))]));
  const sig = { ...signManifest(manifestBytes, signer.privateKey, signer.publicKey), ...(endorsement ? { endorsement: { ...endorsement, ...extra } } : {}) };
  return { manifestBytes, sigBytes: serializeSignatureFile(sig) };
}

test('several trusted keys at once: each signs, each is accepted and named as the signer', () => {
  const trustedKeys = [oldKey.trusted, newKey.trusted];
  for (const k of [oldKey, newKey]) {
    const { manifestBytes, sigBytes } = signed(k);
    const v = verifyManifest(manifestBytes, sigBytes, { trustedKeys });
    assert.equal(v.signer.keyId, k.keyId);
    assert.equal(v.endorsedBy, undefined);
  }
  const { manifestBytes, sigBytes } = signed(stranger);
  assert.throws(() => verifyManifest(manifestBytes, sigBytes, { trustedKeys }), code('SF_ERR_UNTRUSTED_KEY'));
  // Revoking one of them leaves the other working.
  const one = signed(oldKey);
  const two = signed(newKey);
  assert.throws(() => verifyManifest(one.manifestBytes, one.sigBytes, { trustedKeys, revokedKeys: [oldKey.keyId] }), code('SF_ERR_KEY_REVOKED'));
  assert.equal(verifyManifest(two.manifestBytes, two.sigBytes, { trustedKeys, revokedKeys: [oldKey.keyId] }).signer.keyId, newKey.keyId);
});

test('rotation: a bundle by a new key that the trusted old key endorsed is accepted', () => {
  const e = endorseKey(newKey.publicKey, oldKey.privateKey);
  const { manifestBytes, sigBytes } = signed(newKey, e);
  const v = verifyManifest(manifestBytes, sigBytes, { trustedKeys: [oldKey.trusted] });
  assert.equal(v.signer.keyId, newKey.keyId);
  assert.equal(v.endorsedBy, oldKey.keyId);
  // Without the endorsement the new key is unknown.
  const bare = signed(newKey);
  assert.throws(() => verifyManifest(bare.manifestBytes, bare.sigBytes, { trustedKeys: [oldKey.trusted] }), code('SF_ERR_UNTRUSTED_KEY'));
  // Once devices list the new key themselves, the endorsement is not needed (nor consulted).
  assert.equal(verifyManifest(manifestBytes, sigBytes, { trustedKeys: [newKey.trusted] }).endorsedBy, undefined);
});

test('an endorsement with notAfter counts before it and is refused after it (SF_ERR_ENDORSEMENT_EXPIRED)', () => {
  const notAfter = new Date('2030-01-01T00:00:00Z');
  const e = endorseKey(newKey.publicKey, oldKey.privateKey, { notAfter });
  assert.equal(e.notAfter, '2030-01-01T00:00:00.000Z');
  const { manifestBytes, sigBytes } = signed(newKey, e);
  const opts = { trustedKeys: [oldKey.trusted] };
  assert.equal(verifyManifest(manifestBytes, sigBytes, { ...opts, now: new Date('2029-12-31T23:59:59Z') }).endorsedBy, oldKey.keyId);
  assert.throws(() => verifyManifest(manifestBytes, sigBytes, { ...opts, now: notAfter }), code('SF_ERR_ENDORSEMENT_EXPIRED'));
  // notAfter is signed: pushing it later breaks the endorsement, and then the key is simply untrusted.
  const stretched = signed(newKey, e, { notAfter: '2099-01-01T00:00:00.000Z' });
  assert.throws(() => verifyManifest(stretched.manifestBytes, stretched.sigBytes, { ...opts, now: new Date('2031-01-01T00:00:00Z') }), code('SF_ERR_UNTRUSTED_KEY'));
  // Dropping notAfter altogether does not help either.
  const { notAfter: _dropped, ...forever } = e;
  const dropped = signed(newKey, forever);
  assert.throws(() => verifyManifest(dropped.manifestBytes, dropped.sigBytes, { ...opts, now: new Date('2031-01-01T00:00:00Z') }), code('SF_ERR_UNTRUSTED_KEY'));
});

test('revocation wins: a revoked new key is refused though endorsed, and a revoked old key endorses nothing', () => {
  const e = endorseKey(newKey.publicKey, oldKey.privateKey);
  const { manifestBytes, sigBytes } = signed(newKey, e);
  assert.throws(() => verifyManifest(manifestBytes, sigBytes, { trustedKeys: [oldKey.trusted], revokedKeys: [newKey.keyId] }), code('SF_ERR_KEY_REVOKED'));
  assert.throws(() => verifyManifest(manifestBytes, sigBytes, { trustedKeys: [oldKey.trusted], revokedKeys: [oldKey.keyId] }), code('SF_ERR_KEY_REVOKED'));
  assert.throws(() => verifyManifest(manifestBytes, sigBytes, { trustedKeys: [{ ...oldKey.trusted, revoked: true }] }), code('SF_ERR_KEY_REVOKED'));
  // A revoked key that is listed directly is not rescued by an endorsement either.
  assert.throws(() => verifyManifest(manifestBytes, sigBytes, { trustedKeys: [oldKey.trusted, { ...newKey.trusted, revoked: true }] }), code('SF_ERR_KEY_REVOKED'));
});

test('endorsements by keys the device does not list, forged, relabelled or for another key are refused', () => {
  const opts = { trustedKeys: [oldKey.trusted] };
  const byStranger = signed(newKey, endorseKey(newKey.publicKey, stranger.privateKey));
  assert.throws(() => verifyManifest(byStranger.manifestBytes, byStranger.sigBytes, opts), code('SF_ERR_UNTRUSTED_KEY'));
  // The stranger claims to be the old key: the signature does not verify with the old key.
  const claimed = signed(newKey, endorseKey(newKey.publicKey, stranger.privateKey), { keyId: oldKey.keyId });
  assert.throws(() => verifyManifest(claimed.manifestBytes, claimed.sigBytes, opts), code('SF_ERR_UNTRUSTED_KEY'));
  // An endorsement of the new key, carried by a bundle that the stranger signed.
  const e = endorseKey(newKey.publicKey, oldKey.privateKey);
  const borrowed = signed(stranger, e);
  assert.throws(() => verifyManifest(borrowed.manifestBytes, borrowed.sigBytes, opts), code('SF_ERR_ENDORSEMENT'));
  // The stranger swaps in its own public key under the old key's signature.
  const swapped = signed(stranger, e, { publicKey: Buffer.from(stranger.trusted.publicKey.export({ format: 'jwk' }).x as string, 'base64url').toString('base64') });
  assert.throws(() => verifyManifest(swapped.manifestBytes, swapped.sigBytes, opts), code('SF_ERR_UNTRUSTED_KEY'));
  // Not a key at all.
  const junk = signed(newKey, e, { publicKey: Buffer.alloc(31, 1).toString('base64') });
  assert.throws(() => verifyManifest(junk.manifestBytes, junk.sigBytes, opts), code('SF_ERR_ENDORSEMENT'));
  // Domain separation: the old key's signature over the raw statement bytes is not a manifest signature.
  const statement = endorsementStatement(oldKey.keyId, newKey.keyId, e.publicKey, undefined);
  assert.ok(statement.toString().startsWith('slotflip-endorse/1\n'));
  const asManifest = serializeSignatureFile({ format: 'slotflip-sig/1', keyId: oldKey.keyId, signature: signDetached(statement, oldKey.privateKey).toString('base64') });
  const { manifestBytes } = signed(oldKey);
  assert.throws(() => verifyManifest(manifestBytes, asManifest, opts), code('SF_ERR_SIGNATURE'));
});

test('trust extends one step: a key endorsed by an endorsed key is refused, and nested endorsements are not followed', () => {
  const third = newSigner();
  const opts = { trustedKeys: [oldKey.trusted] };
  const second = endorseKey(newKey.publicKey, oldKey.privateKey);
  const chained = signed(third, endorseKey(third.publicKey, newKey.privateKey));
  assert.throws(() => verifyManifest(chained.manifestBytes, chained.sigBytes, opts), code('SF_ERR_UNTRUSTED_KEY'));
  const nested = signed(third, endorseKey(third.publicKey, newKey.privateKey), { endorsement: second });
  assert.throws(() => verifyManifest(nested.manifestBytes, nested.sigBytes, opts), code('SF_ERR_ENDORSEMENT'));
  assert.throws(() => acceptEndorsement(third.keyId, { ...endorseKey(third.publicKey, newKey.privateKey), endorsement: second } as Endorsement, opts.trustedKeys), code('SF_ERR_ENDORSEMENT'));
});

test('endorsement files: a key cannot endorse itself; malformed files are SF_ERR_ENDORSEMENT; signing refuses another key\'s endorsement', () => {
  assert.throws(() => endorseKey(oldKey.publicKey, oldKey.privateKey), code('SF_ERR_KEY'));
  for (const bad of ['not json', '{}', JSON.stringify({ ...endorseKey(newKey.publicKey, oldKey.privateKey), extra: 1 }), JSON.stringify({ ...endorseKey(newKey.publicKey, oldKey.privateKey), notAfter: 'tomorrow' })]) {
    assert.throws(() => parseEndorsement(Buffer.from(bad)), code('SF_ERR_ENDORSEMENT'), bad);
  }
  const bytes = serializeManifest(manifestFor(stranger, [payloadEntry('rootfs', Buffer.from('x'))]));
  assert.throws(() => signManifest(bytes, stranger.privateKey, stranger.publicKey, endorseKey(newKey.publicKey, oldKey.privateKey)), code('SF_ERR_KEY'));
});

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (c: Buffer) => (o += c.toString()));
  err.on('data', (c: Buffer) => (e += c.toString()));
  const c = await main(argv, { out, err, stdin: Readable.from([]), env: {} });
  return { code: c, out: o, err: e };
}

test('operator flow: keygen --endorse-with, bundle create --endorsement, verify with only the old public key', async (t) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-sec-keys-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const payload = path.join(dir, 'rootfs.img');
  await fsp.writeFile(payload, samplePayload(64 * 1024));
  assert.equal((await cli(['keygen', '--out', path.join(dir, 'old')])).code, 0);
  const k = await cli(['keygen', '--out', path.join(dir, 'new'), '--endorse-with', path.join(dir, 'old', 'private.pem'), '--endorse-until', '2099-01-01T00:00:00Z', '--json']);
  assert.equal(k.code, 0, k.err);
  const info = JSON.parse(k.out) as { keyId: string; endorsementFile: string; endorsedBy: string };
  assert.equal(parseEndorsement(readFileSync(info.endorsementFile)).notAfter, '2099-01-01T00:00:00.000Z');
  const bundle = path.join(dir, 'b.sfb');
  const common = ['bundle', 'create', '--board', 'test-board', '--version', '2.0.0', '--payload', `rootfs=${payload}`, '--key', path.join(dir, 'new', 'private.pem')];
  assert.equal((await cli([...common, '--endorsement', info.endorsementFile, '-o', bundle])).code, 0);
  const v = await cli(['bundle', 'verify', bundle, '--pubkey', path.join(dir, 'old', 'public.pem'), '--json']);
  assert.equal(v.code, 0, v.err);
  assert.equal(JSON.parse(v.out).keyId, info.keyId);
  const revoked = await cli(['bundle', 'verify', bundle, '--pubkey', path.join(dir, 'old', 'public.pem'), '--revoked', info.endorsedBy]);
  assert.equal(revoked.code, 1);
  assert.match(revoked.err, /SF_ERR_KEY_REVOKED/);
  // The same bundle without the endorsement is refused by a device that knows only the old key.
  assert.equal((await cli([...common, '-o', bundle + '.bare'])).code, 0);
  const bare = await cli(['bundle', 'verify', bundle + '.bare', '--pubkey', path.join(dir, 'old', 'public.pem')]);
  assert.match(bare.err, /SF_ERR_UNTRUSTED_KEY/);
  // keygen refuses a missing old key before it writes anything.
  const missing = await cli(['keygen', '--out', path.join(dir, 'x'), '--endorse-with', path.join(dir, 'nope.pem')]);
  assert.equal(missing.code, 1);
  await assert.rejects(fsp.stat(path.join(dir, 'x')));
});

test('createBundle carries the endorsement; verifyBundle checks the whole rotated bundle', async (t) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-sec-keys-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const payload = path.join(dir, 'rootfs.img');
  await fsp.writeFile(payload, samplePayload(100_000));
  const out = createWriteStream(path.join(dir, 'b.sfb'));
  const created = await createBundle({ boards: ['test-board'], version: '2.0.0', payloads: [{ name: 'rootfs', file: payload }], privateKey: newKey.privateKey, endorsement: endorseKey(newKey.publicKey, oldKey.privateKey) }, out);
  await finished(out);
  assert.equal(created.signature.endorsement?.keyId, oldKey.keyId);
  const r = await verifyBundle((await import('node:fs')).createReadStream(path.join(dir, 'b.sfb')), { trustedKeys: [oldKey.trusted] });
  assert.equal(r.signerKeyId, newKey.keyId);
});
