// Typed refusals of the bootloader-environment part. A bad env is never replaced by a silent
// default: the caller gets one of these codes and decides (docs/bootenv.md).

import { SlotflipError } from '../errors.js';

type Opts = { cause?: unknown; details?: Record<string, unknown> };

/** The configured location does not fit the device or the copies do not fit each other. */
export class EnvGeometryError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_GEOMETRY', message, options);
  }
}

/** No copy of the environment has a valid CRC (erased, torn or never written). */
export class EnvCrcError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_CRC', message, options);
  }
}

/** The variables do not fit the environment's data area. */
export class EnvTooLargeError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_TOO_LARGE', message, options);
  }
}

/** A stored environment that passed its checksum but cannot be parsed (or a malformed file env). */
export class EnvFormatError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_FORMAT', message, options);
  }
}

/** A variable name or value that U-Boot cannot store (empty name, '=' or NUL in it, NUL in a value). */
export class EnvVariableError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_VARIABLE', message, options);
  }
}

/** A file-backed environment that was never initialised. */
export class EnvMissingError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_MISSING', message, options);
  }
}

/** A variable asked for by name is not defined (fw_printenv's "not defined"). */
export class EnvUndefinedError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_ENV_UNDEFINED', message, options);
  }
}
