// Typed refusals of the bundle reader and writer. Signature and trust refusals are the crypto
// part's (SF_ERR_SIGNATURE, SF_ERR_UNTRUSTED_KEY, SF_ERR_KEY_REVOKED); malformed manifests
// are ManifestError (SF_ERR_MANIFEST) from manifest.ts.

import { SlotflipError } from '../errors.js';

type Options = { cause?: unknown; details?: Record<string, unknown> };

/** Malformed or truncated tar, missing or duplicate manifest or signature, entries out of order. */
export class BundleFormatError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_BUNDLE_FORMAT', message, options);
  }
}

/** An entry name that is absolute or climbs out with `..`. */
export class UnsafePathError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_UNSAFE_PATH', message, options);
  }
}

/** A symlink, hard link, device or fifo entry: bundles carry regular files only. */
export class LinkEntryError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_LINK', message, options);
  }
}

/** A payload's SHA-256, size or chunk table differs from the signed manifest. */
export class DigestError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_DIGEST', message, options);
  }
}

/** A tar entry larger than the manifest says, or a payload entry the manifest does not list. */
export class OversizeError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_OVERSIZE', message, options);
  }
}

/** The manifest's expiry time has passed. */
export class ExpiredError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_EXPIRED', message, options);
  }
}
