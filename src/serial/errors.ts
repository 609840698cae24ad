// Typed failures of the serial console path: opening the port, waiting for the board, the
// YMODEM transfer, and U-Boot commands that fail or report the wrong checksum.

import { SlotflipError } from '../errors.js';

type Opts = { cause?: unknown; details?: Record<string, unknown> };

export class SerialOpenError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SERIAL_OPEN', message, options);
  }
}

/** The board did not say what was expected in time; `details.tail` holds the last output seen. */
export class SerialTimeoutError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SERIAL_TIMEOUT', message, options);
  }
}

export class SerialClosedError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SERIAL_CLOSED', message, options);
  }
}

/** The YMODEM transfer failed: cancelled by the receiver, or too many retries. */
export class YmodemError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_YMODEM', message, options);
  }
}

/** A U-Boot command returned non-zero or printed something slotflip cannot use. */
export class UbootCommandError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_UBOOT_COMMAND', message, options);
  }
}

/** U-Boot's crc32 of what it received or wrote differs from the host's. */
export class UbootCrcError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_UBOOT_CRC', message, options);
  }
}
