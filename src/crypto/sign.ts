// Detached Ed25519 signatures over exact bytes. Ed25519 hashes internally, so the bytes are
// signed as they are: no re-serialisation, no canonicalisation that could drift.

import { sign, verify, type KeyObject } from 'node:crypto';

export const SIGNATURE_BYTES = 64;

export function signDetached(data: Uint8Array, privateKey: KeyObject): Buffer {
  return sign(null, data, privateKey);
}

/** True only for a valid signature; a malformed one is simply not valid. */
export function verifyDetached(data: Uint8Array, signature: Uint8Array, publicKey: KeyObject): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, data, publicKey, signature);
  } catch {
    // node throws on key/type mismatches; for a verifier that is just "does not verify".
    return false;
  }
}
