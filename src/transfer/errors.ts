// Typed refusals of the MQTT chunk transfer. A bad CRC is counted and the chunk asked for
// again (the receiver only throws it when a caller asks to check one chunk); the others end a
// transfer or refuse one message.

import { SlotflipError } from '../errors.js';

type Options = { cause?: unknown; details?: Record<string, unknown> };

/** A chunk whose bytes do not match the CRC-32 of its frame or of the manifest's chunk table. */
export class CrcError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_CRC', message, options);
  }
}

/** A frame or protocol message that is malformed, oversize, or not what its topic promises. */
export class FrameError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_FRAME', message, options);
  }
}

/** No progress (no manifest, or no new chunk) within the configured time. */
export class TransferTimeoutError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_TRANSFER_TIMEOUT', message, options);
  }
}

/** The caller stopped a transfer (AbortSignal or stop()). */
export class TransferAbortedError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_TRANSFER_ABORTED', message, options);
  }
}
