// Fuzzing operator-command verification (agent/commands.ts): arbitrary messages, mutated
// envelopes, and arbitrary bodies correctly signed by a trusted key (so the checks after the
// signature are reached too). A command is accepted only when it is well-formed, for this
// device, fresh and new; everything else is a typed refusal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import fc from 'fast-check';
import { COMMAND_FORMAT, COMMAND_TYPES, MAX_SKEW_MS, signCommand, verifyCommand, type CommandCheck } from '../../src/agent/commands.js';
import { generateSigningKeyPair, keyIdOf, privateKeyPem } from '../../src/crypto/keys.js';
import { trustedKey } from '../../src/crypto/trusted.js';
import { fuzzSync, outcome } from './support.js';
import { mutatedBytes, mutatedJson, nastyValue } from './mutate.js';

const CODES = ['SF_ERR_COMMAND_FORMAT', 'SF_ERR_COMMAND_TARGET', 'SF_ERR_COMMAND_EXPIRED', 'SF_ERR_COMMAND_REPLAY', 'SF_ERR_SIGNATURE', 'SF_ERR_UNTRUSTED_KEY', 'SF_ERR_KEY_REVOKED'];

const operator = generateSigningKeyPair();
const revokedKey = generateSigningKeyPair();
const stranger = generateSigningKeyPair();
const NOW = new Date('2026-06-01T12:00:00Z');
const CHECK: CommandCheck = {
  deviceId: 'dev-1',
  keys: [trustedKey(operator.publicKey), { ...trustedKey(revokedKey.publicKey), revoked: true }],
  revoked: [keyIdOf(revokedKey.publicKey)],
  seen: ['seen-id'],
  now: NOW,
};

/** A message whose envelope or signed body is JSON null: verifyCommand reads a field of it. */
function isNullCase(bytes: Uint8Array): boolean {
  const parse = (b: Uint8Array): unknown => {
    try {
      return JSON.parse(Buffer.from(b).toString('utf8'));
    } catch {
      return undefined;
    }
  };
  const env = parse(bytes);
  if (env === null) return true;
  const body = (env as { command?: unknown } | undefined)?.command;
  return typeof body === 'string' && parse(Buffer.from(body, 'base64')) === null;
}

function checkAccepted(bytes: Uint8Array): void {
  const r = outcome(() => verifyCommand(bytes, CHECK), CODES);
  if (!r.ok) return;
  const cmd = r.value;
  assert.ok((COMMAND_TYPES as readonly string[]).includes(cmd.type));
  assert.equal(cmd.deviceId, CHECK.deviceId);
  assert.ok(!CHECK.seen.includes(cmd.id));
  assert.ok(Date.parse(cmd.issued) <= NOW.getTime() + MAX_SKEW_MS);
  assert.ok(Date.parse(cmd.expires) >= NOW.getTime() - MAX_SKEW_MS);
}

/** An envelope around `body`, signed by `key` (the operator's unless told). */
function envelope(body: unknown, key = operator): Buffer {
  const bytes = Buffer.from(JSON.stringify(body) ?? '');
  return Buffer.from(
    JSON.stringify({ format: COMMAND_FORMAT, keyId: keyIdOf(key.publicKey), command: bytes.toString('base64'), signature: sign(null, bytes, key.privateKey).toString('base64') }),
  );
}

const goodBody = { type: 'rollback', deviceId: 'dev-1', id: 'c0ffee', issued: '2026-06-01T11:59:00Z', expires: '2026-06-01T12:09:00Z' };
const goodEnvelope = JSON.parse(envelope(goodBody).toString());

test('a command from signCommand verifies on its device within its lifetime', (t) => {
  const pem = privateKeyPem(operator.privateKey);
  const arb = fc.record({ type: fc.constantFrom(...COMMAND_TYPES), lifetimeMs: fc.integer({ min: 1000, max: 24 * 3600 * 1000 }), at: fc.double({ min: 0, max: 1, noNaN: true }) });
  fuzzSync(t, 150, arb, ({ type, lifetimeMs, at }) => {
    const issued = new Date(NOW.getTime() - Math.floor(at * lifetimeMs));
    const cmd = verifyCommand(signCommand({ type, deviceId: 'dev-1', lifetimeMs, now: issued }, pem), CHECK);
    assert.equal(cmd.type, type);
    assert.equal(outcome(() => verifyCommand(signCommand({ type, deviceId: 'dev-2', lifetimeMs, now: issued }, pem), CHECK), CODES).ok, false);
  });
});

test('verifyCommand: arbitrary bytes, JSON and mutated envelopes are a valid command or a typed refusal', (t) => {
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 100 }),
    fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)),
    mutatedJson([goodEnvelope], 3).map((j) => Buffer.from(JSON.stringify(j) ?? '')),
    mutatedBytes([envelope(goodBody)], 3),
  );
  fuzzSync(t, 1500, input.filter((b) => !isNullCase(b)), checkAccepted);
});

test('verifyCommand: arbitrary bodies signed by trusted, revoked and unknown keys are accepted only when valid', (t) => {
  const times = fc.oneof(
    fc.date({ min: new Date('2026-05-31T00:00:00Z'), max: new Date('2026-06-02T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
    nastyValue,
  );
  const body = fc.oneof(
    mutatedJson([goodBody], 3),
    fc.record({ type: fc.oneof(fc.constantFrom(...COMMAND_TYPES), nastyValue), deviceId: fc.oneof(fc.constantFrom('dev-1', 'dev-2'), nastyValue), id: fc.oneof(fc.constantFrom('seen-id', 'x'), nastyValue), issued: times, expires: times }),
  );
  const key = fc.constantFrom(operator, operator, operator, revokedKey, stranger);
  fuzzSync(t, 1500, fc.tuple(body, key).map(([b, k]) => envelope(b, k)).filter((b) => !isNullCase(b)), checkAccepted);
});

test('verifyCommand: an envelope or signed body that is JSON null is refused with SF_ERR_COMMAND_FORMAT', () => {
  for (const msg of [Buffer.from('null'), envelope(null)]) {
    assert.throws(() => verifyCommand(msg, CHECK), (err: { code?: string }) => err.code === 'SF_ERR_COMMAND_FORMAT');
  }
});
