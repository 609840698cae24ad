// The stream a bundle reader hands out for one payload: the tar entry's bytes, hashed and
// counted on the way through, ending with SF_ERR_DIGEST instead of 'end' when the SHA-256 or
// the size differs from the signed manifest. It never destroys the tar entry it reads from
// (that would tear down the whole archive); a payload nobody wants is drained instead.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PayloadEntry } from './manifest.js';
import { BundleFormatError, DigestError } from './errors.js';
import type { TarEntry } from './tar-reader.js';

export class PayloadStream extends Readable {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private draining = false;
  /** Set once the consumer reads: only then is someone listening for 'error'. */
  private reading = false;
  private outcome: { error?: Error } | undefined;
  private readonly settled: Promise<void>;

  constructor(
    private readonly source: TarEntry['stream'],
    readonly entry: PayloadEntry,
    /** The reader's typed failure, preferred over the bare error the entry stream carries. */
    private readonly failure: () => Error | undefined,
  ) {
    super({ highWaterMark: 256 * 1024 });
    let settle!: () => void;
    this.settled = new Promise((resolve) => (settle = resolve));
    source.on('data', (data: unknown) => {
      if (this.draining) return;
      const chunk = data as Buffer;
      this.bytes += chunk.length;
      this.hash.update(chunk);
      if (!this.push(chunk)) source.pause();
    });
    source.on('end', () => {
      // A drained payload was skipped: its bytes went nowhere, so there is nothing to check.
      const error = this.draining ? undefined : this.check();
      this.outcome = error ? { error } : {};
      settle();
      if (this.draining) return;
      if (error) this.fail(error);
      else this.push(null);
    });
    source.on('close', () => {
      if (this.outcome) return;
      const error = this.failure() ?? new BundleFormatError(`payload ${entry.name}: tar entry ended early (truncated)`);
      this.outcome = { error };
      settle();
      if (!this.draining) this.fail(error);
    });
    source.pause();
  }

  private check(): Error | undefined {
    const e = this.entry;
    if (this.bytes !== e.size) {
      return new DigestError(`payload ${e.name}: ${this.bytes} bytes, manifest says ${e.size}`, { details: { payload: e.name } });
    }
    const actual = this.hash.digest('hex');
    if (actual !== e.sha256) {
      return new DigestError(`payload ${e.name}: SHA-256 ${actual} differs from the manifest's ${e.sha256}`, {
        details: { payload: e.name, expected: e.sha256, actual },
      });
    }
    return undefined;
  }

  /**
   * Errors the stream for its consumer. A consumer that has not started reading may not be
   * listening for 'error' yet (an unheard 'error' kills the process), so it gets the error
   * on its first read instead; finish() reports it to the bundle iterator either way.
   */
  private fail(error: Error): void {
    if (this.reading && !this.destroyed) this.destroy(error);
  }

  override _read(): void {
    this.reading = true;
    if (this.outcome?.error) {
      this.destroy(this.outcome.error);
      return;
    }
    this.source.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // The consumer gave up on this payload; the bundle iterator drains the rest of the entry.
    cb(err);
  }

  /**
   * Makes sure the tar entry has been read to its end (discarding what nobody read) and
   * rethrows the payload's failure, if it had one.
   */
  async finish(): Promise<void> {
    if (!this.outcome) {
      if (!this.readableEnded) this.draining = true;
      this.source.resume();
    }
    await this.settled;
    if (this.draining && !this.destroyed) this.destroy();
    if (this.outcome?.error) throw this.outcome.error;
  }
}
