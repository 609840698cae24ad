// A board console as a buffer of unread bytes with deadlines: wait for text (a prompt, a
// message), read single bytes (the YMODEM sender does), write. Bytes are kept as latin1
// text so binary and text share one buffer and regexes see one character per byte.

import type { ConsoleLink } from './transport.js';
import { SerialClosedError, SerialTimeoutError } from './errors.js';

export interface ConsoleOptions {
  /** Every byte that arrives, e.g. to echo the board's output to a log. */
  tap?: (chunk: Buffer) => void;
  /** How much recent output error messages quote. */
  tailChars?: number;
}

export interface ExpectResult {
  /** Text before the match. */
  before: string;
  match: RegExpExecArray;
}

export class Console {
  private pending = '';
  private closed: Error | undefined;
  private wake: Array<() => void> = [];
  private recent = '';
  /** Time (ms, performance.now) the last byte arrived. */
  lastDataAt = performance.now();

  constructor(
    readonly link: ConsoleLink,
    private readonly opts: ConsoleOptions = {},
  ) {
    link.onData((chunk) => {
      const text = chunk.toString('latin1');
      this.pending += text;
      this.recent = (this.recent + text).slice(-(opts.tailChars ?? 2000));
      this.lastDataAt = performance.now();
      opts.tap?.(chunk);
      this.notify();
    });
    link.onClose((err) => {
      this.closed = new SerialClosedError(`${link.description} closed`, err ? { cause: err } : {});
      this.notify();
    });
  }

  private notify(): void {
    const waiters = this.wake;
    this.wake = [];
    for (const w of waiters) w();
  }

  /** The last output seen, for error messages. */
  tail(): string {
    return this.recent;
  }

  write(data: string | Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(this.closed);
    return this.link.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Drops unread input (stale bytes before a protocol step). */
  discard(): string {
    const dropped = this.pending;
    this.pending = '';
    return dropped;
  }

  /** Waits until `check` finds what it wants in the unread text, or the deadline passes. */
  private async waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      if (this.closed) throw this.closed;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new SerialTimeoutError(`no ${what} from ${this.link.description} within ${(timeoutMs / 1000).toFixed(1)} s`, {
          details: { tail: this.recent.slice(-400) },
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for `pattern` and consumes the input up to the end of the match. */
  expect(pattern: RegExp | string, timeoutMs: number, what = String(pattern)): Promise<ExpectResult> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : new RegExp(pattern.source, pattern.flags.replace('g', ''));
    return this.waitFor(
      () => {
        const match = re.exec(this.pending);
        if (!match) return undefined;
        const before = this.pending.slice(0, match.index);
        this.pending = this.pending.slice(match.index + match[0].length);
        return { before, match };
      },
      timeoutMs,
      what,
    );
  }

  /** Consumes one byte. */
  readByte(timeoutMs: number): Promise<number> {
    return this.waitFor(
      () => {
        if (!this.pending.length) return undefined;
        const b = this.pending.charCodeAt(0);
        this.pending = this.pending.slice(1);
        return b;
      },
      timeoutMs,
      'byte',
    );
  }

  close(): Promise<void> {
    return this.link.close();
  }
}
