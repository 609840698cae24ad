// Trusted key sets: loading, de-duplication, revocation, and the typed refusals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKeyPair, keyIdOf, publicKeyPem } from '../../src/crypto/keys.js';
import { loadTrustedKeys, resolveSigner, verifyTrusted } from '../../src/crypto/trusted.js';
import { signDetached } from '../../src/crypto/sign.js';

test('loadTrustedKeys loads, de-duplicates and flags revoked keys', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'slotflip-trust-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  writeFileSync(join(dir, 'a.pem'), publicKeyPem(a.publicKey));
  writeFileSync(join(dir, 'a-again.pem'), publicKeyPem(a.publicKey));
  writeFileSync(join(dir, 'b.pem'), publicKeyPem(b.publicKey));
  const keys = await loadTrustedKeys([join(dir, 'a.pem'), join(dir, 'a-again.pem'), join(dir, 'b.pem')], [keyIdOf(b.publicKey).toUpperCase()]);
  assert.deepEqual(keys.map((k) => [k.keyId, k.file, k.revoked ?? false]), [
    [keyIdOf(a.publicKey), join(dir, 'a.pem'), false],
    [keyIdOf(b.publicKey), join(dir, 'b.pem'), true],
  ]);
  await assert.rejects(loadTrustedKeys([join(dir, 'nope.pem')]), (err: { code?: string }) => err.code === 'SF_ERR_KEY');
});

test('resolveSigner and verifyTrusted refuse with the right code', () => {
  const a = generateSigningKeyPair();
  const idA = keyIdOf(a.publicKey);
  const keys = [{ keyId: idA, publicKey: a.publicKey }];
  const data = Buffer.from('bytes');
  const sig = signDetached(data, a.privateKey);
  assert.equal(verifyTrusted(data, idA, sig, keys).keyId, idA);
  assert.throws(() => verifyTrusted(Buffer.from('other'), idA, sig, keys), (e: { code?: string }) => e.code === 'SF_ERR_SIGNATURE');
  assert.throws(() => resolveSigner('0123456789abcdef', keys), (e: { code?: string }) => e.code === 'SF_ERR_UNTRUSTED_KEY');
  assert.throws(() => resolveSigner(idA, [{ ...keys[0]!, revoked: true }]), (e: { code?: string }) => e.code === 'SF_ERR_KEY_REVOKED');
  assert.throws(() => resolveSigner(idA, keys, [idA]), (e: { code?: string }) => e.code === 'SF_ERR_KEY_REVOKED');
  assert.throws(() => resolveSigner('0123456789abcdef', keys, ['0123456789abcdef']), (e: { code?: string }) => e.code === 'SF_ERR_KEY_REVOKED');
});
