// manifest.sig: format, strictness, and the reserved `endorsement` field, which v1 parses but
// never lets vouch for an untrusted key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignatureFile, serializeSignatureFile, signManifest, ENDORSEMENT_CONTEXT } from '../../src/bundle/signature.js';
import { verifyManifest } from '../../src/bundle/verify.js';
import { publicKeyRaw } from '../../src/crypto/keys.js';
import { signDetached } from '../../src/crypto/sign.js';
import { manifestFor, newSigner, payloadEntry } from './fixtures.js';
import { serializeManifest } from '../../src/bundle/manifest.js';

const signer = newSigner();
const manifestBytes = serializeManifest(manifestFor(signer, [payloadEntry('rootfs', Buffer.from('abc'))]));

function code(expected: string) {
  return (err: { code?: string }): boolean => err.code === expected;
}

test('signManifest writes the v1 document and verifyManifest accepts it', () => {
  const sig = signManifest(manifestBytes, signer.privateKey, signer.publicKey);
  assert.deepEqual(Object.keys(sig), ['format', 'keyId', 'signature']);
  assert.equal(sig.format, 'slotflip-sig/1');
  assert.equal(Buffer.from(sig.signature, 'base64').length, 64);
  const bytes = serializeSignatureFile(sig);
  assert.deepEqual(parseSignatureFile(bytes), sig);
  const v = verifyManifest(manifestBytes, bytes, { trustedKeys: [signer.trusted] });
  assert.equal(v.signer.keyId, signer.keyId);
});

test('refuses malformed signature files (SF_ERR_SIGNATURE)', () => {
  const sig = signManifest(manifestBytes, signer.privateKey, signer.publicKey);
  const bad: unknown[] = [
    'not json',
    { ...sig, format: 'slotflip-sig/2' },
    { ...sig, keyId: 'ABCDEF0123456789' },
    { ...sig, signature: '***' },
    { ...sig, unknown: 1 },
    { format: sig.format, keyId: sig.keyId },
  ];
  for (const b of bad) {
    const bytes = Buffer.from(typeof b === 'string' ? b : JSON.stringify(b));
    assert.throws(() => parseSignatureFile(bytes), code('SF_ERR_SIGNATURE'), JSON.stringify(b));
  }
  const truncated = { ...sig, signature: Buffer.from(sig.signature, 'base64').subarray(0, 63).toString('base64') };
  assert.throws(() => verifyManifest(manifestBytes, Buffer.from(JSON.stringify(truncated)), { trustedKeys: [signer.trusted] }), code('SF_ERR_SIGNATURE'));
});

test('a forged endorsement (not signed by the trusted key it names) does not make an untrusted signer trusted', () => {
  const newKey = newSigner();
  const bytes = serializeManifest(manifestFor(newKey, [payloadEntry('rootfs', Buffer.from('abc'))]));
  const raw = publicKeyRaw(newKey.publicKey);
  const endorsement = {
    keyId: signer.keyId,
    publicKey: raw.toString('base64'),
    signature: signDetached(Buffer.concat([Buffer.from(ENDORSEMENT_CONTEXT), raw]), signer.privateKey).toString('base64'),
  };
  const sigFile = { ...signManifest(bytes, newKey.privateKey, newKey.publicKey), endorsement };
  const sigBytes = serializeSignatureFile(sigFile);
  assert.deepEqual(parseSignatureFile(sigBytes).endorsement, endorsement, 'the field is accepted and kept');
  assert.throws(() => verifyManifest(bytes, sigBytes, { trustedKeys: [signer.trusted] }), code('SF_ERR_UNTRUSTED_KEY'));
  assert.equal(verifyManifest(bytes, sigBytes, { trustedKeys: [newKey.trusted] }).signer.keyId, newKey.keyId);
});
