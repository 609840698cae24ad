// The stream a bundle reader hands out for one payload: the tar entry's bytes, hashed and
// counted on the way through, ending with SF_ERR_DIGEST instead of 'end' when the SHA-256 or
// the size differs from the signed manifest. It never destroys the tar entry it reads from
// (that would tear down the whole archive); a payload nobody wants is drained instead.
// The SHA-256 runs here by default; a caller may hand in a hasher that runs elsewhere, which
// can ask for the input to pause, or take the payload unhashed when it proves the bytes
// against the signed digest itself (the local install's read-back, decision D8): then only
// the size is checked here.

import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PayloadEntry } from './manifest.js';
import { BundleFormatError, DigestError } from './errors.js';
import { IoError } from '../errors.js';
import type { TarEntry } from './tar-reader.js';

/** A SHA-256 that runs off this stream's thread (src/slots/digest.ts DigestWorker.hasher). */
export interface PayloadHasher {
  /** Takes what it needs of `chunk` before returning; false asks for a pause until onDrain. */
  update(chunk: Uint8Array): boolean;
  onDrain(fn: () => void): void;
  digest(): Promise<string>;
  close(): void;
}

export class PayloadStream extends Readable {
  private readonly hash: Hash | undefined;
  private readonly hasher: PayloadHasher | undefined;
  private bytes = 0;
  private draining = false;
  /** Set once the consumer reads: only then is someone listening for 'error'. */
  private reading = false;
  /** The consumer wants data (push() has not said stop since its last read). */
  private wanted = false;
  /** The off-thread hasher is behind: the input waits for it. */
  private hashBusy = false;
  private ended = false;
  private outcome: { error?: Error } | undefined;
  private readonly settled: Promise<void>;

  constructor(
    private readonly source: TarEntry['stream'],
    readonly entry: PayloadEntry,
    /** The reader's typed failure, preferred over the bare error the entry stream carries. */
    private readonly failure: () => Error | undefined,
    digest: PayloadHasher | 'unhashed' | undefined = undefined,
  ) {
    super({ highWaterMark: 256 * 1024 });
    const hasher = digest === 'unhashed' ? undefined : digest;
    this.hasher = hasher;
    if (!digest) this.hash = createHash('sha256');
    let settle!: () => void;
    this.settled = new Promise((resolve) => (settle = resolve));
    const conclude = (error: Error | undefined): void => {
      this.hasher?.close();
      this.outcome = error ? { error } : {};
      settle();
      if (this.draining) return;
      if (error) this.fail(error);
      else this.push(null);
    };
    hasher?.onDrain(() => {
      this.hashBusy = false;
      if (this.wanted || this.draining) source.resume();
    });
    source.on('data', (data: unknown) => {
      if (this.draining) return;
      const chunk = data as Buffer;
      this.bytes += chunk.length;
      if (this.hash) this.hash.update(chunk);
      else if (hasher && !hasher.update(chunk)) this.hashBusy = true;
      if (!this.push(chunk)) this.wanted = false;
      if (!this.wanted || this.hashBusy) source.pause();
    });
    source.on('end', () => {
      this.ended = true;
      // A drained payload was skipped: its bytes went nowhere, so there is nothing to check.
      if (this.draining) return conclude(undefined);
      if (this.hash) return conclude(this.check(this.hash.digest('hex')));
      const short = this.checkSize();
      if (short || !hasher) return conclude(short);
      hasher.digest().then(
        (actual) => conclude(this.check(actual)),
        (cause: unknown) => conclude(new IoError(`payload ${entry.name}: hashing failed`, { cause })),
      );
    });
    source.on('close', () => {
      if (this.outcome || this.ended) return;
      const error = this.failure() ?? new BundleFormatError(`payload ${entry.name}: tar entry ended early (truncated)`);
      this.hasher?.close();
      this.outcome = { error };
      settle();
      if (!this.draining) this.fail(error);
    });
    source.pause();
  }

  private checkSize(): Error | undefined {
    const e = this.entry;
    if (this.bytes !== e.size) {
      return new DigestError(`payload ${e.name}: ${this.bytes} bytes, manifest says ${e.size}`, { details: { payload: e.name } });
    }
    return undefined;
  }

  private check(actual: string): Error | undefined {
    const e = this.entry;
    const short = this.checkSize();
    if (short) return short;
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
    this.wanted = true;
    if (this.outcome?.error) {
      this.destroy(this.outcome.error);
      return;
    }
    if (!this.hashBusy) this.source.resume();
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
