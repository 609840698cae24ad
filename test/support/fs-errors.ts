// Errors the in-memory file system throws: Node-shaped errno errors (same code, errno, syscall
// and message as node:fs on Linux, so code under test branches the same way) and the PowerCut
// that ends a simulated machine's life.

import { constants } from 'node:os';

const MESSAGES = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ELOOP: 'too many symbolic links encountered',
  EBADF: 'bad file descriptor',
} as const;

export type ErrnoCode = keyof typeof MESSAGES;

export function errnoError(code: ErrnoCode, syscall: string, file?: string, dest?: string): NodeJS.ErrnoException {
  const where = file === undefined ? '' : dest === undefined ? ` '${file}'` : ` '${file}' -> '${dest}'`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${MESSAGES[code]}, ${syscall}${where}`);
  err.code = code;
  err.errno = -constants.errno[code];
  err.syscall = syscall;
  if (file !== undefined) err.path = file;
  if (dest !== undefined) (err as NodeJS.ErrnoException & { dest: string }).dest = dest;
  return err;
}

/** What node:fs's FileHandle throws when used after close(). */
export function closedError(syscall: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('file closed');
  err.code = 'EBADF';
  err.syscall = syscall;
  return err;
}

/** One call through the seam that can change what a disk holds, as the power-cut log names it. */
export interface CallLabel {
  /** 1-based index in the whole run (across power cycles of one supply). */
  n: number;
  /** open(create) | open(update) | write | datasync | sync | truncate | rename | unlink | ... */
  op: string;
  path: string;
  /** write: "LENGTH@POSITION"; truncate: the new length. */
  detail?: string;
}

export function formatCall(c: CallLabel): string {
  return `#${c.n} ${c.op} ${c.path}${c.detail ? ` ${c.detail}` : ''}`;
}

/**
 * Thrown by the call at which the power was cut, and by every call after it (the process is
 * gone; nothing it does afterwards reaches the disk). Code under test wraps it as a cause;
 * use isPowerCut to look through the chain.
 */
export class PowerCut extends Error {
  readonly code = 'POWER_CUT';

  constructor(
    readonly call: CallLabel,
    /** False for the call that was cut, true for calls made after it. */
    readonly after: boolean,
  ) {
    super(after ? `power is off (cut at ${formatCall(call)})` : `power cut at ${formatCall(call)}`);
    this.name = 'PowerCut';
  }
}

export function isPowerCut(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 20; e = e.cause, depth++) {
    if (e instanceof PowerCut) return true;
  }
  return false;
}
