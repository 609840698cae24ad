// Typed refusals of worker supervision and application slots. The agent reports these codes on
// its status topic; `details.reason` says which health gate failed.

import { SlotflipError } from '../../errors.js';

type Options = { cause?: unknown; details?: Record<string, unknown> };

/** Why a worker was judged unhealthy. */
export type UnhealthyReason = 'ready-timeout' | 'exited' | 'heartbeat-timeout' | 'stopped';

/** A (new) worker did not become ready in time, crashed, or stopped heart-beating. */
export class WorkerUnhealthyError extends SlotflipError {
  readonly reason: UnhealthyReason;
  constructor(reason: UnhealthyReason, message: string, options: Options = {}) {
    super('SF_ERR_WORKER_UNHEALTHY', message, { ...options, details: { reason, ...options.details } });
    this.reason = reason;
  }
}

/** A second swap while one is running is refused, not queued. */
export class WorkerBusyError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_WORKER_BUSY', message, options);
  }
}

/** The call does not fit the supervisor's state (swap before start, start after stop). */
export class WorkerStateError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_WORKER_STATE', message, options);
  }
}

/** A listening socket from the config could not be created (address in use, bad path). */
export class WorkerSocketError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_WORKER_SOCKET', message, options);
  }
}

/** An app payload entry that would land outside its slot: absolute path or `..`. */
export class AppUnsafePathError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_APP_UNSAFE_PATH', message, options);
  }
}

/** A symbolic or hard link in an app payload that points outside its slot. */
export class AppUnsafeLinkError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_APP_UNSAFE_LINK', message, options);
  }
}

/** An app payload entry of a type that has no place in an app (device file, fifo). */
export class AppUnsafeTypeError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_APP_UNSAFE_TYPE', message, options);
  }
}

/** The app payload is not a readable tar stream. */
export class AppTarError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_APP_TAR', message, options);
  }
}

/** The pre-install hook exited non-zero (or could not run): the install is vetoed. */
export class AppVetoedError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_APP_VETOED', message, options);
  }
}

/** The app slots are not in a state that allows the request (nothing to roll back to). */
export class AppSlotError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_APP_SLOT', message, options);
  }
}
