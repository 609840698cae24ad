// Key rotation: an old, trusted key endorses a new one, so bundles signed by the new key are
// accepted by devices that only know the old key. The endorsement travels in manifest.sig;
// trust extends exactly one step (only keys the device itself lists may endorse).

import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import * as z from 'zod';
import { SlotflipError } from '../errors.js';
import { KeyError, KeyRevokedError, UntrustedKeyError } from '../crypto/errors.js';
import { keyIdOf, publicKeyRaw } from '../crypto/keys.js';
import { signDetached, verifyDetached } from '../crypto/sign.js';
import { trustedKey, type TrustedKey } from '../crypto/trusted.js';
import { ENDORSEMENT_CONTEXT, type Endorsement } from './signature.js';

type Options = { cause?: unknown; details?: Record<string, unknown> };

/** An endorsement that is malformed, names another key than the signer's, or is itself endorsed. */
export class EndorsementError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_ENDORSEMENT', message, options);
  }
}

/** The endorsement's notAfter has passed: the new key is no longer vouched for. */
export class EndorsementExpiredError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_ENDORSEMENT_EXPIRED', message, options);
  }
}

/** Largest endorsement file accepted by the CLI (one is ~300 bytes). */
export const MAX_ENDORSEMENT_BYTES = 16 * 1024;

const StatementSchema = z
  .object({
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    publicKey: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
    signature: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
    notAfter: z.string().datetime({ offset: true }).optional(),
  })
  .strict();

/**
 * The exact bytes an endorser signs: the context line, then a JSON object built here in a fixed
 * key order. Binding the endorser's own id stops one endorsement from being re-labelled as
 * another key's; the context stops it from ever passing as a manifest or command signature.
 */
export function endorsementStatement(endorserKeyId: string, endorsedKeyId: string, publicKeyB64: string, notAfter: string | undefined): Buffer {
  const body = JSON.stringify({ endorser: endorserKeyId, keyId: endorsedKeyId, publicKey: publicKeyB64, notAfter: notAfter ?? null });
  return Buffer.from(ENDORSEMENT_CONTEXT + body);
}

/** The old key (`endorserPrivate`) vouches for `newPublic`, optionally until `notAfter`. */
export function endorseKey(newPublic: KeyObject, endorserPrivate: KeyObject, opts: { notAfter?: Date } = {}): Endorsement {
  const endorserId = keyIdOf(createPublicKey(endorserPrivate));
  const raw = publicKeyRaw(newPublic).toString('base64');
  const newId = keyIdOf(newPublic);
  if (newId === endorserId) throw new KeyError(`key ${newId} cannot endorse itself`);
  const notAfter = opts.notAfter?.toISOString();
  const signature = signDetached(endorsementStatement(endorserId, newId, raw, notAfter), endorserPrivate).toString('base64');
  return { keyId: endorserId, publicKey: raw, signature, ...(notAfter ? { notAfter } : {}) };
}

export function serializeEndorsement(e: Endorsement): Buffer {
  return Buffer.from(JSON.stringify(e, null, 2) + '\n');
}

/** Parses an endorsement file (what `slotflip keygen --endorse-with` writes). */
export function parseEndorsement(bytes: Uint8Array, source = 'endorsement'): Endorsement {
  if (bytes.length > MAX_ENDORSEMENT_BYTES) throw new EndorsementError(`${source} is ${bytes.length} bytes, more than ${MAX_ENDORSEMENT_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new EndorsementError(`${source} is not valid JSON`, { cause });
  }
  const parsed = StatementSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EndorsementError(`${source} field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export interface EndorsedKey extends TrustedKey {
  /** Id of the trusted key that vouched for this one. */
  endorsedBy: string;
}

/**
 * Turns the endorsement of `signerKeyId` into a trusted key, or refuses with a code:
 * SF_ERR_KEY_REVOKED (signer or endorser revoked), SF_ERR_UNTRUSTED_KEY (endorser not listed
 * by the device, or an endorsement signature that does not verify: it vouches for nothing),
 * SF_ERR_ENDORSEMENT_EXPIRED, SF_ERR_ENDORSEMENT (malformed, another key, or a chain).
 * Only directly listed keys may endorse, so a chain never grows beyond one step.
 */
export function acceptEndorsement(signerKeyId: string, endorsement: Endorsement, trusted: readonly TrustedKey[], revokedIds: readonly string[] = [], now: Date = new Date()): EndorsedKey {
  const revoked = new Set(revokedIds.map((r) => r.toLowerCase()));
  for (const k of trusted) if (k.revoked) revoked.add(k.keyId);
  const details = { keyId: signerKeyId, endorsedBy: endorsement.keyId };
  if (revoked.has(signerKeyId)) throw new KeyRevokedError(`signing key ${signerKeyId} has been revoked; its endorsement by ${endorsement.keyId} does not matter`, { details });
  if (revoked.has(endorsement.keyId)) throw new KeyRevokedError(`key ${signerKeyId} is endorsed by ${endorsement.keyId}, which has been revoked`, { details });
  if ('endorsement' in endorsement) throw new EndorsementError(`endorsement of ${signerKeyId} carries an endorsement of its own; chains are not followed`, { details });
  const e = parseEndorsement(Buffer.from(JSON.stringify(endorsement)), 'manifest.sig endorsement');
  const endorser = trusted.find((k) => k.keyId === e.keyId);
  if (!endorser) {
    const known = trusted.map((k) => k.keyId).join(', ') || 'none';
    throw new UntrustedKeyError(`signing key ${signerKeyId} is endorsed by ${e.keyId}, which is not trusted either (trusted: ${known})`, { details });
  }
  let publicKey: KeyObject;
  try {
    const raw = Buffer.from(e.publicKey, 'base64');
    if (raw.length !== 32) throw new KeyError(`endorsed public key has ${raw.length} bytes, not 32`);
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch (cause) {
    throw new EndorsementError(`endorsement of ${signerKeyId} does not carry an Ed25519 public key`, { cause, details });
  }
  const endorsedId = keyIdOf(publicKey);
  if (endorsedId !== signerKeyId) throw new EndorsementError(`endorsement is for key ${endorsedId}, but the manifest was signed by ${signerKeyId}`, { details });
  const statement = endorsementStatement(e.keyId, endorsedId, e.publicKey, e.notAfter);
  if (!verifyDetached(statement, Buffer.from(e.signature, 'base64'), endorser.publicKey)) {
    throw new UntrustedKeyError(`signing key ${signerKeyId} is not trusted, and its endorsement by ${e.keyId} does not verify`, { details: { ...details, endorsement: 'invalid' } });
  }
  if (e.notAfter !== undefined && now.getTime() >= Date.parse(e.notAfter)) {
    throw new EndorsementExpiredError(`endorsement of ${signerKeyId} by ${e.keyId} expired at ${e.notAfter}`, { details: { ...details, notAfter: e.notAfter, now: now.toISOString() } });
  }
  return { ...trustedKey(publicKey), endorsedBy: e.keyId };
}
