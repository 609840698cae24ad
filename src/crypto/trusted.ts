// The set of keys a device or an operator trusts, and the one decision made with it: may a
// signature by key id X be believed? Revoked keys stay in the set, flagged, so a refusal can
// say "revoked" instead of the vaguer "unknown key".

import type { KeyObject } from 'node:crypto';
import { realFs, type FileSystem } from '../platform/fs.js';
import { KeyRevokedError, SignatureError, UntrustedKeyError } from './errors.js';
import { keyIdOf, loadPublicKey } from './keys.js';
import { verifyDetached } from './sign.js';

export interface TrustedKey {
  keyId: string;
  publicKey: KeyObject;
  /** Where the key was loaded from, for messages. */
  file?: string;
  /** Set when the key id is on the revocation list: signatures by it are refused. */
  revoked?: boolean;
}

export function trustedKey(publicKey: KeyObject, file?: string): TrustedKey {
  const k: TrustedKey = { keyId: keyIdOf(publicKey), publicKey };
  if (file !== undefined) k.file = file;
  return k;
}

/** Loads public keys from PEM files; keys whose id is in `revokedIds` come back flagged. */
export async function loadTrustedKeys(paths: readonly string[], revokedIds: readonly string[] = [], fs: FileSystem = realFs): Promise<TrustedKey[]> {
  const revoked = new Set(revokedIds.map((id) => id.toLowerCase()));
  const keys = new Map<string, TrustedKey>();
  for (const file of paths) {
    const k = trustedKey(await loadPublicKey(file, fs), file);
    if (revoked.has(k.keyId)) k.revoked = true;
    if (!keys.has(k.keyId)) keys.set(k.keyId, k);
  }
  return [...keys.values()];
}

/**
 * The trusted key with this id, or a typed refusal. `revokedIds` covers revocations of keys
 * whose public half is not in the set (a revocation list may outlive the key files).
 */
export function resolveSigner(keyId: string, keys: readonly TrustedKey[], revokedIds: readonly string[] = []): TrustedKey {
  const id = keyId.toLowerCase();
  const key = keys.find((k) => k.keyId === id);
  if (key?.revoked || revokedIds.some((r) => r.toLowerCase() === id)) {
    throw new KeyRevokedError(`signing key ${id} has been revoked`, { details: { keyId: id } });
  }
  if (!key) {
    const known = keys.map((k) => k.keyId).join(', ') || 'none';
    throw new UntrustedKeyError(`signing key ${id} is not trusted (trusted: ${known})`, { details: { keyId: id } });
  }
  return key;
}

/** Checks a detached signature by a trusted key and returns that key. */
export function verifyTrusted(data: Uint8Array, keyId: string, signature: Uint8Array, keys: readonly TrustedKey[], revokedIds: readonly string[] = []): TrustedKey {
  const signer = resolveSigner(keyId, keys, revokedIds);
  if (!verifyDetached(data, signature, signer.publicKey)) {
    throw new SignatureError(`signature by key ${signer.keyId} does not verify`, { details: { keyId: signer.keyId } });
  }
  return signer;
}
