// openBundle: signature before payloads, payload streams that check their digest, and every
// refusal of a malformed, tampered or untrusted bundle with its typed code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { openBundle } from '../../src/bundle/open.js';
import { collect, craftBundle, readAll, craftTar, manifestFor, newSigner, payloadEntry, samplePayload, signedHead, streamOf } from './fixtures.js';

const signer = newSigner();
const rootfs = samplePayload(50_000, 1);
const app = samplePayload(9_000, 2);

async function openAndRead(bytes: Buffer, opts: Partial<Parameters<typeof openBundle>[1]> = {}): Promise<Record<string, Buffer>> {
  return readAll(await openBundle(streamOf(bytes), { trustedKeys: [signer.trusted], ...opts }));
}

function code(expected: string) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: string }).code, expected, `expected ${expected}, got ${(err as Error).message}`);
    return true;
  };
}

test('round trip: payloads come back byte for byte, signer and manifest reported', async () => {
  const { bytes, manifest } = await craftBundle(signer, { rootfs, app });
  const b = await openBundle(streamOf(bytes), { trustedKeys: [signer.trusted] });
  assert.deepEqual(b.manifest, manifest);
  assert.equal(b.signer.keyId, signer.keyId);
  const got = await readAll(b);
  assert.deepEqual(Object.keys(got), ['rootfs', 'app']);
  assert.ok(got['rootfs']!.equals(rootfs));
  assert.ok(got['app']!.equals(app));
});

test('openBundle returns after manifest and signature, before the payload has even arrived', async () => {
  const { bytes } = await craftBundle(signer, { rootfs });
  const input = new PassThrough();
  input.write(bytes.subarray(0, bytes.indexOf('payloads/rootfs'))); // up to the payload's tar header, never ended
  const b = await openBundle(input, { trustedKeys: [signer.trusted] });
  assert.equal(b.manifest.payloads[0]!.name, 'rootfs');
  await b.close();
  assert.ok(input.destroyed, 'close() destroys the input');
});

test('a payload the consumer does not read is drained; the next one still arrives intact', async () => {
  const { bytes } = await craftBundle(signer, { rootfs, app });
  const b = await openBundle(streamOf(bytes), { trustedKeys: [signer.trusted] });
  const seen: string[] = [];
  for await (const { entry, stream } of b.payloads()) {
    seen.push(entry.name);
    if (entry.name === 'app') assert.ok((await collect(stream)).equals(app));
  }
  await b.close();
  assert.deepEqual(seen, ['rootfs', 'app']);
});

test('refuses a flipped byte in the manifest (SF_ERR_SIGNATURE)', async () => {
  const { bytes } = await craftBundle(signer, { rootfs });
  const at = bytes.indexOf('"1.0.0"') + 1;
  const bad = Buffer.from(bytes);
  bad[at] = '2'.charCodeAt(0); // still a valid manifest, no longer the signed one (tar checksum covers only headers)
  await assert.rejects(openAndRead(bad), code('SF_ERR_SIGNATURE'));
});

test('refuses a signature by an untrusted key (SF_ERR_UNTRUSTED_KEY)', async () => {
  const stranger = newSigner();
  const { bytes } = await craftBundle(stranger, { rootfs });
  await assert.rejects(openAndRead(bytes), code('SF_ERR_UNTRUSTED_KEY'));
});

test('refuses a revoked key, flagged in the set or listed by id (SF_ERR_KEY_REVOKED)', async () => {
  const { bytes } = await craftBundle(signer, { rootfs });
  await assert.rejects(openAndRead(bytes, { trustedKeys: [{ ...signer.trusted, revoked: true }] }), code('SF_ERR_KEY_REVOKED'));
  await assert.rejects(openAndRead(bytes, { revokedKeys: [signer.keyId] }), code('SF_ERR_KEY_REVOKED'));
});

test('refuses a manifest naming another key than the one that signed it (SF_ERR_SIGNATURE)', async () => {
  const other = newSigner();
  const manifest = manifestFor(signer, [payloadEntry('rootfs', rootfs)]);
  const { manifestBytes, sigBytes } = signedHead(manifest, other); // both keys trusted, ids differ
  const bytes = await craftTar([
    { name: 'manifest.json', body: manifestBytes },
    { name: 'manifest.sig', body: sigBytes },
    { name: 'payloads/rootfs', body: rootfs },
  ]);
  await assert.rejects(openAndRead(bytes, { trustedKeys: [signer.trusted, other.trusted] }), code('SF_ERR_SIGNATURE'));
});

test('refuses an expired manifest (SF_ERR_EXPIRED) unless expiry checks are off', async () => {
  const { bytes } = await craftBundle(signer, { rootfs }, { expires: '2026-06-01T00:00:00.000Z' });
  await assert.rejects(openAndRead(bytes, { now: new Date('2026-06-01T00:00:00.000Z') }), code('SF_ERR_EXPIRED'));
  await openAndRead(bytes, { now: new Date('2026-05-31T23:59:59.000Z') });
  await openAndRead(bytes, { now: new Date('2027-01-01T00:00:00.000Z'), checkExpiry: false });
});

test('refuses a malformed manifest.sig (SF_ERR_SIGNATURE)', async () => {
  const manifest = manifestFor(signer, [payloadEntry('rootfs', rootfs)]);
  const { manifestBytes } = signedHead(manifest, signer);
  const bytes = await craftTar([
    { name: 'manifest.json', body: manifestBytes },
    { name: 'manifest.sig', body: Buffer.from('{"format":"slotflip-sig/1"') },
    { name: 'payloads/rootfs', body: rootfs },
  ]);
  await assert.rejects(openAndRead(bytes), code('SF_ERR_SIGNATURE'));
});

test('a flipped payload byte errors the payload stream at its end (SF_ERR_DIGEST)', async () => {
  const { bytes } = await craftBundle(signer, { rootfs });
  const bad = Buffer.from(bytes);
  bad[bytes.length - 1024 - 512 - 100] ^= 0x01; // inside the payload's data
  const b = await openBundle(streamOf(bad), { trustedKeys: [signer.trusted] });
  await assert.rejects(readAll(b), code('SF_ERR_DIGEST'));
});
