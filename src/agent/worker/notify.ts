// The heartbeat channel, read side. A worker writes sd_notify-style lines (`READY=1`,
// `WATCHDOG=1`, `STATUS=text`, `STOPPING=1`, `RELOADING=1`) to the fd named by
// SLOTFLIP_NOTIFY_FD; this turns the byte stream into those assignments. Contract: docs/worker.md.

import type { Readable } from 'node:stream';

/** Longest line kept; anything longer is a misbehaving worker and is cut, not buffered. */
export const MAX_NOTIFY_LINE = 4096;

export interface NotifyMessage {
  key: string;
  value: string;
}

/** Splits `chunk`s into lines and `KEY=VALUE` pairs; lines without '=' are ignored. */
export class NotifyParser {
  private partial = '';
  private overlong = false;

  constructor(private readonly onMessage: (m: NotifyMessage) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (this.overlong) {
        // The tail of a line that was already too long: drop it along with its head.
        this.overlong = false;
        continue;
      }
      this.line(line);
    }
    if (this.partial.length > MAX_NOTIFY_LINE) {
      this.partial = '';
      this.overlong = true;
    }
  }

  /** End of stream: a last line without a newline still counts (`printf READY=1 >&4`). */
  end(): void {
    if (!this.overlong && this.partial) this.line(this.partial);
    this.partial = '';
  }

  private line(raw: string): void {
    const line = raw.replace(/\r$/, '');
    const eq = line.indexOf('=');
    if (eq <= 0 || line.length > MAX_NOTIFY_LINE) return;
    this.onMessage({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1) });
  }
}

/** Feeds `stream` to a parser; `onEnd` runs once, with the error when the channel broke. */
export function readNotify(stream: Readable, onMessage: (m: NotifyMessage) => void, onEnd: (err?: Error) => void): void {
  const parser = new NotifyParser(onMessage);
  let ended = false;
  const finish = (err?: Error): void => {
    if (ended) return;
    ended = true;
    parser.end();
    onEnd(err);
  };
  stream.on('data', (chunk: Buffer) => parser.push(chunk));
  stream.once('end', () => finish());
  // A reset channel ends it like EOF does; the caller gets the error to report.
  stream.once('error', (err: Error) => finish(err));
}
