// manifest.sig: the detached signature over the exact bytes of manifest.json, as a small JSON
// document. Version 1 carries the signing key id and the signature, and optionally an
// `endorsement`: an older, trusted key vouching for the signing key (key rotation). What an
// endorsement signs and when it is believed: bundle/endorsement.ts, docs/security.md.

import type { KeyObject } from 'node:crypto';
import * as z from 'zod';
import { KeyError, SignatureError } from '../crypto/errors.js';
import { keyIdOf, publicKeyRaw } from '../crypto/keys.js';
import { signDetached } from '../crypto/sign.js';

export const SIGNATURE_FORMAT = 'slotflip-sig/1';
/** Largest manifest.sig accepted; a v1 file is ~150 bytes. */
export const MAX_SIGNATURE_BYTES = 64 * 1024;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const keyId = z.string().regex(/^[0-9a-f]{16}$/, '16 lowercase hex digits');

const EndorsementSchema = z
  .object({
    /** Id of the (older, trusted) key that vouches for the signing key. */
    keyId,
    /** base64 of the raw 32-byte public key being endorsed (the signing key). */
    publicKey: base64,
    /** base64 Ed25519 signature by `keyId` over the statement of bundle/endorsement.ts. */
    signature: base64,
    /** ISO-8601 time from which the endorsement no longer vouches for the key. */
    notAfter: z.string().optional(),
  })
  .passthrough();

const SignatureFileSchema = z
  .object({
    format: z.literal(SIGNATURE_FORMAT),
    keyId,
    signature: base64,
    endorsement: EndorsementSchema.optional(),
  })
  .strict();

export type SignatureFile = z.infer<typeof SignatureFileSchema>;
export type Endorsement = z.infer<typeof EndorsementSchema>;

/** Domain separator for endorsement statements, so one can never pass as a manifest signature. */
export const ENDORSEMENT_CONTEXT = 'slotflip-endorse/1\n';

export function parseSignatureFile(bytes: Uint8Array): SignatureFile {
  if (bytes.length > MAX_SIGNATURE_BYTES) throw new SignatureError(`manifest.sig is ${bytes.length} bytes, more than ${MAX_SIGNATURE_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new SignatureError('manifest.sig is not valid JSON', { cause });
  }
  const parsed = SignatureFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SignatureError(`manifest.sig field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function serializeSignatureFile(sig: SignatureFile): Buffer {
  return Buffer.from(JSON.stringify(sig, null, 2) + '\n');
}

/** Signs exact manifest bytes and returns the manifest.sig document (with the key's endorsement, if any). */
export function signManifest(manifestBytes: Uint8Array, privateKey: KeyObject, publicKey: KeyObject, endorsement?: Endorsement): SignatureFile {
  const sig: SignatureFile = { format: SIGNATURE_FORMAT, keyId: keyIdOf(publicKey), signature: signDetached(manifestBytes, privateKey).toString('base64') };
  if (endorsement) {
    // An endorsement of another key would make every device refuse the bundle: say so now.
    if (endorsement.publicKey !== publicKeyRaw(publicKey).toString('base64')) throw new KeyError(`the endorsement is for another key than the signing key ${sig.keyId}`);
    sig.endorsement = endorsement;
  }
  return sig;
}
