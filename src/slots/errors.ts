// Refusals of the slot layer: writing where it must not, or content that does not read back.
import { SlotflipError } from '../errors.js';

type Opts = { cause?: unknown; details?: Record<string, unknown> };

/** The write target is the slot the device runs from (or the same device under another name). */
export class ActiveSlotError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SLOT_ACTIVE', message, options);
  }
}

export class SlotTooSmallError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SLOT_TOO_SMALL', message, options);
  }
}

/** The slot was written, but what reads back is not what the signed manifest promised. */
export class ReadbackError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_READBACK', message, options);
  }
}

/** The env, the booted slot and the device state do not tell one consistent story. */
export class SlotStateError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SLOT_STATE', message, options);
  }
}

export class SlotWriteError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SLOT_WRITE', message, options);
  }
}
