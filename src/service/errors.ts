// Typed refusals of `slotflip service`: files that slotflip did not write are never replaced
// or removed, and a failed readiness or watchdog message to systemd is reported, not dropped.

import { SlotflipError } from '../errors.js';

type Options = { cause?: unknown; details?: Record<string, unknown> };

/** An init file exists at the target path but lacks slotflip's header: someone else owns it. */
export class ForeignServiceFileError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_SERVICE_FOREIGN', message, options);
  }
}

/** systemd-notify could not deliver READY/WATCHDOG/STOPPING to $NOTIFY_SOCKET. */
export class SdNotifyError extends SlotflipError {
  constructor(message: string, options: Options = {}) {
    super('SF_ERR_SD_NOTIFY', message, options);
  }
}
