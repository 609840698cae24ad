// The one error base of slotflip. Every refusal carries a stable string `code` (SF_ERR_*),
// which is what the status topic, the CLI's exit path and docs/errors.md speak of.
// Parts define their own subclasses next to the code that throws them.

export class SlotflipError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** Errors that are not ours (EIO, a bug) still need a code when they reach a report. */
export function errorCode(err: unknown): string {
  return err instanceof SlotflipError ? err.code : 'SF_ERR_INTERNAL';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return err.message + cause;
  }
  return String(err);
}

/** Configuration files and command arguments that do not hold. */
export class ConfigError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('SF_ERR_CONFIG', message, options);
  }
}

export class UsageError extends SlotflipError {
  constructor(message: string) {
    super('SF_ERR_USAGE', message);
  }
}

/** An OS call failed where slotflip cannot go on (wraps the errno error as cause). */
export class IoError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('SF_ERR_IO', message, options);
  }
}
