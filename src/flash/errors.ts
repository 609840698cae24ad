// Typed refusals of `slotflip flash` writing to a file or block device. Each code is listed
// in docs/errors.md; the CLI prints it and exits 1.

import { SlotflipError } from '../errors.js';

type Opts = { cause?: unknown; details?: Record<string, unknown> };

/** The target (or one of its partitions) is mounted or held by another block layer. */
export class TargetMountedError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_FLASH_MOUNTED', message, options);
  }
}

/** The target cannot take the image: wrong kind of file, too small, unreadable. */
export class FlashTargetError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_FLASH_TARGET', message, options);
  }
}

/** A .bmap file is malformed, belongs to another image, or its checksums disagree with the image. */
export class BmapError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_FLASH_BMAP', message, options);
  }
}

/** What was read back from the target differs from what the image holds. */
export class FlashVerifyError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_FLASH_VERIFY', message, options);
  }
}
