// Trusting a manifest: signature by a trusted, non-revoked key (or by a key that such a key
// endorsed, for rotation) over the exact manifest bytes, then parse and validate, then the key
// id and expiry checks. Used by openBundle and by anyone who receives a manifest and its
// signature another way (the MQTT transfer).

import { verifyTrusted, type TrustedKey } from '../crypto/trusted.js';
import { SignatureError } from '../crypto/errors.js';
import { parseManifest, type Manifest } from './manifest.js';
import { parseSignatureFile } from './signature.js';
import { ExpiredError } from './errors.js';
import { acceptEndorsement } from './endorsement.js';

export interface TrustOptions {
  trustedKeys: readonly TrustedKey[];
  /** Key ids refused even when no public key file for them is at hand. */
  revokedKeys?: readonly string[];
  /** Clock for the expiry check (default: now). */
  now?: Date;
  /** Default true; `bundle inspect`-like tools that only describe may turn it off. */
  checkExpiry?: boolean;
}

export interface VerifiedManifest {
  manifest: Manifest;
  signer: TrustedKey;
  /** Set when the signer is trusted through an endorsement: the id of the key that endorsed it. */
  endorsedBy?: string;
}

export function checkExpiry(manifest: Manifest, now: Date = new Date()): void {
  if (manifest.expires === undefined) return;
  const expires = Date.parse(manifest.expires);
  if (now.getTime() >= expires) {
    throw new ExpiredError(`manifest expired at ${manifest.expires}`, { details: { expires: manifest.expires, now: now.toISOString() } });
  }
}

export function verifyManifest(manifestBytes: Uint8Array, signatureBytes: Uint8Array, opts: TrustOptions): VerifiedManifest {
  const sig = parseSignatureFile(signatureBytes);
  let keys = opts.trustedKeys;
  let endorsedBy: string | undefined;
  // A key the device lists itself needs nobody's word; only an unknown signer may be vouched for.
  if (sig.endorsement && !keys.some((k) => k.keyId === sig.keyId)) {
    const endorsed = acceptEndorsement(sig.keyId, sig.endorsement, opts.trustedKeys, opts.revokedKeys, opts.now);
    keys = [...keys, endorsed];
    endorsedBy = endorsed.endorsedBy;
  }
  const signer = verifyTrusted(manifestBytes, sig.keyId, Buffer.from(sig.signature, 'base64'), keys, opts.revokedKeys);
  const manifest = parseManifest(manifestBytes);
  if (manifest.keyId !== sig.keyId) {
    // A manifest re-signed by another trusted key is still not what its author released.
    throw new SignatureError(`manifest names key ${manifest.keyId} but was signed by ${sig.keyId}`, { details: { keyId: sig.keyId } });
  }
  if (opts.checkExpiry !== false) checkExpiry(manifest, opts.now);
  return endorsedBy === undefined ? { manifest, signer } : { manifest, signer, endorsedBy };
}
