import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { signCommand, verifyCommand } from '../../src/agent/commands.js';
import type { TrustedKey } from '../../src/crypto/trusted.js';

function keyPair(): { pem: string; key: TrustedKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  const keyId = createHash('sha256').update(der.subarray(der.length - 32)).digest('hex').slice(0, 16);
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), key: { keyId, publicKey: createPublicKey(privateKey) } };
}

const ops = keyPair();
const rogue = keyPair();
const base = { deviceId: 'dev1', keys: [ops.key], revoked: [] as string[], seen: [] as string[] };

test('a signed, fresh command for this device is accepted once', () => {
  const msg = signCommand({ type: 'rollback', deviceId: 'dev1' }, ops.pem);
  const cmd = verifyCommand(msg, base);
  assert.equal(cmd.type, 'rollback');
  assert.throws(() => verifyCommand(msg, { ...base, seen: [cmd.id] }), { code: 'SF_ERR_COMMAND_REPLAY' });
});

test('unsigned, wrongly signed, tampered, misaddressed, stale and revoked commands are refused', () => {
  const good = JSON.parse(signCommand({ type: 'reboot', deviceId: 'dev1' }, ops.pem).toString());
  const unsigned = Buffer.from(JSON.stringify({ ...good, signature: '' }));
  assert.throws(() => verifyCommand(unsigned, base), { code: 'SF_ERR_SIGNATURE' });
  assert.throws(() => verifyCommand(signCommand({ type: 'reboot', deviceId: 'dev1' }, rogue.pem), base), { code: 'SF_ERR_UNTRUSTED_KEY' });
  const inner = JSON.parse(Buffer.from(good.command, 'base64').toString());
  const tampered = Buffer.from(JSON.stringify({ ...good, command: Buffer.from(JSON.stringify({ ...inner, type: 'rollback' })).toString('base64') }));
  assert.throws(() => verifyCommand(tampered, base), { code: 'SF_ERR_SIGNATURE' });
  assert.throws(() => verifyCommand(signCommand({ type: 'reboot', deviceId: 'dev2' }, ops.pem), base), { code: 'SF_ERR_COMMAND_TARGET' });
  const old = signCommand({ type: 'reboot', deviceId: 'dev1', now: new Date(Date.now() - 3600_000) }, ops.pem);
  assert.throws(() => verifyCommand(old, base), { code: 'SF_ERR_COMMAND_EXPIRED' });
  assert.throws(() => verifyCommand(signCommand({ type: 'reboot', deviceId: 'dev1' }, ops.pem), { ...base, revoked: [ops.key.keyId] }), { code: 'SF_ERR_KEY_REVOKED' });
  assert.throws(() => verifyCommand(Buffer.from('nonsense'), base), { code: 'SF_ERR_COMMAND_FORMAT' });
});
