// SHA-256 of sequences of buffers, on this thread or on one worker thread. The local install
// hashes every byte twice (the bundle stream, then the read-back of the slot); on a worker,
// both passes leave the main thread free to move data, and a second core does the hashing.

import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * Buffers go in by ownership: take one with acquire(), fill it, hand it to update(); it comes
 * back to the pool once hashed (a worker gets it by transfer, so no copy is made). At most
 * `buffers` exist at a time, so memory stays flat whatever the length hashed.
 */
export interface Sha256Sink {
  acquire(): Promise<Buffer>;
  update(buf: Buffer, length: number): void;
  /** The hex digest of everything updated, in order. */
  digest(): Promise<string>;
  /** Frees the pool (and the worker's state for this hash). Safe to call twice. */
  close(): Promise<void>;
}

/** Pool bookkeeping shared by the sinks. */
class Pool {
  private readonly free: Buffer[] = [];
  private readonly waiting: { resolve: (b: Buffer) => void; reject: (e: unknown) => void }[] = [];
  made = 0;
  failure: unknown;

  constructor(
    readonly size: number,
    readonly max: number,
  ) {}

  /** A buffer now if one is free or may be made, else undefined. */
  take(): Buffer | undefined {
    const b = this.free.pop();
    if (b) return b;
    if (this.made >= this.max) return undefined;
    this.made++;
    // allocUnsafeSlow: a buffer of its own (not a slice of Node's pool), so it can be transferred.
    return Buffer.allocUnsafeSlow(this.size);
  }

  acquire(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const b = this.take();
    if (b) return Promise.resolve(b);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  release(b: Buffer): void {
    if (this.failure) return;
    const w = this.waiting.shift();
    if (w) w.resolve(b);
    else this.free.push(b);
  }

  fail(err: unknown): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
    this.free.length = 0;
  }
}

/** Hashes on the calling thread. */
export function inlineSha256(bufferSize: number, buffers = 2): Sha256Sink {
  const pool = new Pool(bufferSize, buffers);
  const hash: Hash = createHash('sha256');
  return {
    acquire: () => pool.acquire(),
    update(buf, length) {
      hash.update(buf.subarray(0, length));
      pool.release(buf);
    },
    digest: async () => hash.digest('hex'),
    async close() {
      pool.fail(new Error('digest closed'));
    },
  };
}

// Plain CommonJS run by `new Worker(..., { eval: true })`: no file to ship beside the one-file
// device build. One hash per stream id; each buffer goes back once hashed.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
const hashOf = (id) => { let h = hashes.get(id); if (!h) hashes.set(id, (h = createHash('sha256'))); return h; };
parentPort.on('message', (m) => {
  if (m.buf) {
    hashOf(m.id).update(new Uint8Array(m.buf, 0, m.length));
    parentPort.postMessage({ id: m.id, buf: m.buf }, [m.buf]);
  } else if (m.digest) {
    const hex = hashOf(m.id).digest('hex');
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex });
  } else {
    hashes.delete(m.id);
  }
});
`;

interface Stream {
  returned(buf: Buffer): void;
  digested(hex: string): void;
  failed(err: unknown): void;
}

/**
 * One worker thread hashing any number of streams. It starts on first use and never keeps
 * the process alive on its own; close() ends it.
 */
export class DigestWorker {
  private worker: Worker | undefined;
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private closed = false;
  private failure: unknown;
  private unavailable: unknown;
  /** Replies the worker owes (buffers to return, digests). */
  private owed = 0;

  /** Starts the thread now, so its start-up overlaps other work. */
  warm(): void {
    if (!this.closed) this.startable();
  }

  /**
   * Whether a worker runs or could start. Where it cannot (a thread limit, a Node without
   * workers), sink() and hasher() fall back to hashing on this thread: slower, the same digest.
   */
  private startable(): boolean {
    if (this.unavailable) return false;
    try {
      this.start();
      return true;
    } catch (err) {
      if (this.closed) return true; // streams of a closed worker fail on use instead
      this.unavailable = err;
      return false;
    }
  }

  /** Why the worker could not start, if it could not (hashing then runs on this thread). */
  get startError(): unknown {
    return this.unavailable;
  }

  private start(): Worker {
    if (this.closed) throw new Error('digest worker closed');
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    // Idle, the worker never keeps the process alive; with an answer owed, it must (else a
    // main thread awaiting only a digest could see its event loop end first).
    w.unref();
    w.on('message', (m: { id: number; buf?: ArrayBuffer; hex?: string }) => {
      if (--this.owed === 0) w.unref();
      const s = this.streams.get(m.id);
      if (m.buf) s?.returned(Buffer.from(m.buf));
      else if (m.hex !== undefined) s?.digested(m.hex);
    });
    const fail = (err: unknown): void => {
      this.failure ??= err;
      for (const s of this.streams.values()) s.failed(this.failure);
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (!this.closed) fail(new Error(`digest worker exited with code ${code}`));
    });
    this.worker = w;
    return w;
  }

  private open(stream: Stream): { id: number; post: (m: object, transfer?: ArrayBuffer[]) => void; drop: () => void } {
    // A closed worker hands out streams that fail on use (the caller's typed path reports it).
    if (this.closed) return { id: 0, post: () => undefined, drop: () => undefined };
    const w = this.start();
    const id = this.nextId++;
    this.streams.set(id, stream);
    return {
      id,
      post: (m, transfer) => {
        if (this.owed++ === 0) w.ref();
        w.postMessage({ id, ...m }, transfer);
      },
      drop: () => {
        if (!this.streams.delete(id) || this.closed) return;
        w.postMessage({ id, drop: true });
      },
    };
  }

  /** A sink hashing on the worker; its buffers travel there and back by transfer. */
  sink(bufferSize: number, buffers = 4): Sha256Sink {
    if (!this.startable()) return inlineSha256(bufferSize, 2);
    const pool = new Pool(bufferSize, buffers);
    let waiter: { resolve: (hex: string) => void; reject: (e: unknown) => void } | undefined;
    const fail = (err: unknown): void => {
      pool.fail(err);
      waiter?.reject(err);
      waiter = undefined;
    };
    const ch = this.open({
      returned: (b) => pool.release(b),
      digested(hex) {
        waiter?.resolve(hex);
        waiter = undefined;
      },
      failed: fail,
    });
    if (this.failure) fail(this.failure);
    return {
      acquire: () => pool.acquire(),
      update(buf, length) {
        if (pool.failure) throw pool.failure;
        const ab = buf.buffer as ArrayBuffer;
        ch.post({ buf: ab, length }, [ab]);
      },
      digest() {
        if (pool.failure) return Promise.reject(pool.failure);
        return new Promise((resolve, reject) => {
          waiter = { resolve, reject };
          ch.post({ digest: true });
        });
      },
      async close() {
        fail(new Error('digest closed'));
        ch.drop();
      },
    };
  }

  /**
   * A hasher for a stream of pieces of any size that cannot wait (a stream's 'data'): each
   * piece is copied into the pool's buffers, which go to the worker as they fill. update()
   * returns false once `buffers` are out (the caller pauses its input until onDrain); a
   * caller that goes on anyway gets more buffers, so nothing is ever lost.
   */
  hasher(bufferSize: number, buffers = 4): PayloadHasher {
    if (!this.startable()) return inlineHasher();
    const pool = new Pool(bufferSize, Number.POSITIVE_INFINITY);
    let out = 0;
    let cur: Buffer | undefined;
    let fill = 0;
    let drained: (() => void) | undefined;
    let waiter: { resolve: (hex: string) => void; reject: (e: unknown) => void } | undefined;
    const fail = (err: unknown): void => {
      pool.fail(err);
      waiter?.reject(err);
      waiter = undefined;
      drained?.();
    };
    const ch = this.open({
      returned(b) {
        out--;
        // Buffers made past the limit while the input was pausing are left to the GC.
        if (pool.made > buffers) pool.made--;
        else pool.release(b);
        if (out === buffers - 1) drained?.();
      },
      digested(hex) {
        waiter?.resolve(hex);
        waiter = undefined;
      },
      failed: fail,
    });
    if (this.failure) fail(this.failure);
    const send = (): void => {
      const ab = cur!.buffer as ArrayBuffer;
      ch.post({ buf: ab, length: fill }, [ab]);
      out++;
      cur = undefined;
      fill = 0;
    };
    return {
      update(chunk) {
        if (pool.failure) return true; // reported by digest()
        for (let at = 0; at < chunk.length; ) {
          cur ??= pool.take()!;
          const n = Math.min(chunk.length - at, cur.length - fill);
          cur.set(chunk.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === cur.length) send();
        }
        return out < buffers;
      },
      onDrain(fn) {
        drained = fn;
      },
      digest() {
        if (pool.failure) return Promise.reject(pool.failure);
        if (fill > 0) send();
        return new Promise((resolve, reject) => {
          waiter = { resolve, reject };
          ch.post({ digest: true });
        });
      },
      close() {
        pool.fail(new Error('digest closed'));
        drained = undefined;
        ch.drop();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failure ??= new Error('digest worker closed');
    for (const s of this.streams.values()) s.failed(this.failure);
    this.streams.clear();
    // terminate() alone does not keep the event loop alive (Node 20, measured: the process
    // ended with close() still pending, so whoever awaited it never resumed): hold it open.
    const w = this.worker;
    if (!w) return;
    const keep = setInterval(() => undefined, 1 << 30);
    try {
      await w.terminate();
    } finally {
      clearInterval(keep);
    }
  }
}

/** What a payload stream needs of a hash it does not run itself (src/bundle/payload-stream.ts). */
export interface PayloadHasher {
  /** Copies what it needs of `chunk`; false asks the caller to pause its input until onDrain. */
  update(chunk: Uint8Array): boolean;
  onDrain(fn: () => void): void;
  digest(): Promise<string>;
  close(): void;
}

/** The PayloadHasher shape over node:crypto on this thread (the fallback without a worker). */
function inlineHasher(): PayloadHasher {
  const hash = createHash('sha256');
  return {
    update: (chunk) => (hash.update(chunk), true),
    onDrain: () => undefined,
    digest: async () => hash.digest('hex'),
    close: () => undefined,
  };
}

/** A one-stream worker sink that ends its worker on close (tests and one-off callers). */
export function workerSha256(bufferSize: number, buffers = 4): Sha256Sink {
  const w = new DigestWorker();
  const s = w.sink(bufferSize, buffers);
  return { ...s, close: async () => (await s.close(), await w.close()) };
}
