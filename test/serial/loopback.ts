// An in-process console link pair for tests: what one end writes, the other end reads, with a
// hook to corrupt or drop individual writes on the way.

import type { ConsoleLink } from '../../src/serial/transport.js';

export type Tamper = (data: Buffer, writeIndex: number) => Buffer | null;

class End implements ConsoleLink {
  peer!: End;
  private dataListeners: Array<(chunk: Buffer) => void> = [];
  private closeListeners: Array<(err?: Error) => void> = [];
  private writes = 0;
  closed = false;
  tamper: Tamper | undefined;

  constructor(readonly description: string) {}

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error(`${this.description} is closed`);
    const out = this.tamper ? this.tamper(Buffer.from(data), this.writes++) : Buffer.from(data);
    if (out === null) return; // dropped on the wire
    // Deliver asynchronously, in order, like a real line.
    setImmediate(() => this.peer.deliver(out));
  }

  deliver(chunk: Buffer): void {
    if (!this.closed) for (const l of this.dataListeners) l(chunk);
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListeners.push(listener);
  }

  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  async close(): Promise<void> {
    for (const end of [this, this.peer]) {
      if (end.closed) continue;
      end.closed = true;
      for (const l of end.closeListeners) l();
    }
  }
}

export function linkPair(): [End, End] {
  const a = new End('host');
  const b = new End('board');
  a.peer = b;
  b.peer = a;
  return [a, b];
}
