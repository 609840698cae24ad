// Detached signatures over exact bytes: any changed byte, other key or malformed signature
// fails; verification never throws.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSigningKeyPair } from '../../src/crypto/keys.js';
import { signDetached, verifyDetached } from '../../src/crypto/sign.js';

test('a signature verifies over exactly the signed bytes, with the signing key only', () => {
  const a = generateSigningKeyPair();
  const b = generateSigningKeyPair();
  const data = Buffer.from('{"version":"1.0.0"}\n');
  const sig = signDetached(data, a.privateKey);
  assert.equal(sig.length, 64);
  assert.equal(verifyDetached(data, sig, a.publicKey), true);
  assert.equal(verifyDetached(data, sig, b.publicKey), false);
  for (let i = 0; i < data.length; i++) {
    const changed = Buffer.from(data);
    changed[i] ^= 1;
    assert.equal(verifyDetached(changed, sig, a.publicKey), false, `byte ${i}`);
  }
  assert.equal(verifyDetached(Buffer.concat([data, Buffer.from(' ')]), sig, a.publicKey), false);
  const flipped = Buffer.from(sig);
  flipped[10] ^= 0x80;
  assert.equal(verifyDetached(data, flipped, a.publicKey), false);
  assert.equal(verifyDetached(data, sig.subarray(0, 63), a.publicKey), false);
  assert.equal(verifyDetached(data, Buffer.alloc(0), a.publicKey), false);
});

test('Ed25519 signatures are deterministic (same key, same bytes, same signature)', () => {
  const a = generateSigningKeyPair();
  assert.ok(signDetached(Buffer.from('x'), a.privateKey).equals(signDetached(Buffer.from('x'), a.privateKey)));
});
