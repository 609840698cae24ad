// Typed refusals of the crypto part. Bundle verification and signed commands both report
// these codes, so they live here rather than next to either caller.

import { SlotflipError } from '../errors.js';

type Options = { cause?: unknown; details?: Record<string, unknown> };

/** A key file is missing, unreadable, not Ed25519, or would be overwritten. */
export class KeyError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_KEY', message, options);
  }
}

/** A signature does not verify, is malformed, or was made by another key than claimed. */
export class SignatureError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_SIGNATURE', message, options);
  }
}

/** The signing key is not among the trusted keys. */
export class UntrustedKeyError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_UNTRUSTED_KEY', message, options);
  }
}

/** The signing key was trusted once and has been revoked. */
export class KeyRevokedError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_KEY_REVOKED', message, options);
  }
}
