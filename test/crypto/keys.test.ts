// Ed25519 keys: key id derivation, PEM round trips, file modes, refusal to overwrite.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateSigningKeyPair,
  keyIdOf,
  loadPrivateKey,
  loadPublicKey,
  parsePublicKeyPem,
  privateKeyPem,
  publicKeyPem,
  publicKeyRaw,
  writeKeyPair,
} from '../../src/crypto/keys.js';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'slotflip-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key', () => {
  const { publicKey } = generateSigningKeyPair();
  // Independent derivation: the raw key is the last 32 bytes of the DER SubjectPublicKeyInfo.
  const der = publicKey.export({ format: 'der', type: 'spki' });
  const raw = der.subarray(der.length - 32);
  assert.ok(publicKeyRaw(publicKey).equals(raw));
  assert.equal(keyIdOf(publicKey), createHash('sha256').update(raw).digest('hex').slice(0, 16));
  assert.match(keyIdOf(publicKey), /^[0-9a-f]{16}$/);
});

test('writeKeyPair writes private.pem 0600 and public.pem, both load back to the same key', async (t) => {
  const dir = join(tmp(t), 'keys');
  const pair = generateSigningKeyPair();
  const files = await writeKeyPair(dir, pair);
  assert.equal(statSync(files.privateFile).mode & 0o777, 0o600);
  assert.equal(statSync(files.publicFile).mode & 0o077 & 0o022, 0, 'public key not group/other writable');
  assert.match(readFileSync(files.privateFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(readFileSync(files.publicFile, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  const priv = await loadPrivateKey(files.privateFile);
  const pub = await loadPublicKey(files.publicFile);
  assert.equal(keyIdOf(pub), keyIdOf(pair.publicKey));
  assert.equal(privateKeyPem(priv), privateKeyPem(pair.privateKey));
  assert.equal(keyIdOf(await loadPublicKey(files.privateFile)), keyIdOf(pub), 'a private PEM yields its public half');
});

test('writeKeyPair refuses to overwrite either file (SF_ERR_KEY) and leaves them unchanged', async (t) => {
  const dir = tmp(t);
  await writeKeyPair(dir, generateSigningKeyPair());
  const before = readFileSync(join(dir, 'private.pem'));
  await assert.rejects(writeKeyPair(dir, generateSigningKeyPair()), (err: { code?: string }) => err.code === 'SF_ERR_KEY');
  assert.ok(readFileSync(join(dir, 'private.pem')).equals(before));

  const other = tmp(t);
  writeFileSync(join(other, 'public.pem'), 'x');
  await assert.rejects(writeKeyPair(other, generateSigningKeyPair()), (err: { code?: string }) => err.code === 'SF_ERR_KEY');
  assert.throws(() => statSync(join(other, 'private.pem')), 'no private key written when public.pem exists');
});

test('refuses non-Ed25519 keys, garbage and missing files (SF_ERR_KEY)', async (t) => {
  const dir = tmp(t);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  writeFileSync(join(dir, 'rsa.pem'), rsa.publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(dir, 'junk.pem'), 'hello');
  for (const f of ['rsa.pem', 'junk.pem', 'missing.pem']) {
    await assert.rejects(loadPublicKey(join(dir, f)), (err: { code?: string }) => err.code === 'SF_ERR_KEY', f);
  }
  await assert.rejects(loadPrivateKey(join(dir, 'junk.pem')), (err: { code?: string }) => err.code === 'SF_ERR_KEY');
  assert.throws(() => parsePublicKeyPem(rsa.publicKey.export({ format: 'pem', type: 'spki' })), (err: { code?: string }) => err.code === 'SF_ERR_KEY');
  assert.equal(keyIdOf(parsePublicKeyPem(publicKeyPem(generateSigningKeyPair().publicKey))).length, 16);
});
