// Errors of the QEMU image builder and VM runner. They are host-side test tooling, but they
// speak the same language as the rest of slotflip: a stable code and the wrapped cause.

import { SlotflipError } from '../src/errors.js';

/** A host tool failed, a guest did not print what was expected, or the cache is unusable. */
export class QemuError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('SF_ERR_QEMU', message, options);
  }
}
