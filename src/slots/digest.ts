// SHA-256 of a sequence of buffers, either on this thread or on a worker thread. The local
// install hashes the bundle stream on the main thread; the read-back's hash runs on a worker
// so the two passes use both cores of a small board instead of queueing on one.

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
  /** Frees the pool and stops the worker, if any. Safe to call twice. */
  close(): Promise<void>;
}

/** Pool bookkeeping shared by both sinks. */
class Pool {
  private readonly free: Buffer[] = [];
  private readonly waiting: { resolve: (b: Buffer) => void; reject: (e: unknown) => void }[] = [];
  private made = 0;
  failure: unknown;

  constructor(
    private readonly size: number,
    private readonly max: number,
  ) {}

  acquire(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.made < this.max) {
      this.made++;
      // allocUnsafeSlow: a buffer of its own (not a slice of Node's pool), so it can be transferred.
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size));
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  release(b: Buffer): void {
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
// device build. It hashes each buffer it is given and sends the buffer back for reuse.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash = createHash('sha256');
parentPort.on('message', (m) => {
  if (m.buf) {
    hash.update(new Uint8Array(m.buf, 0, m.length));
    parentPort.postMessage({ buf: m.buf }, [m.buf]);
  } else {
    parentPort.postMessage({ hex: hash.digest('hex') });
    hash = createHash('sha256');
  }
});
`;

/** Hashes on a worker thread; buffers move there and back by transfer. */
export function workerSha256(bufferSize: number, buffers = 4): Sha256Sink {
  const pool = new Pool(bufferSize, buffers);
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  // Never keeps the process alive on its own; close() ends it either way.
  worker.unref();
  let digestWaiter: { resolve: (hex: string) => void; reject: (e: unknown) => void } | undefined;
  let closed = false;
  const fail = (err: unknown): void => {
    pool.fail(err);
    digestWaiter?.reject(err);
    digestWaiter = undefined;
  };
  worker.on('message', (m: { buf?: ArrayBuffer; hex?: string }) => {
    if (m.buf) pool.release(Buffer.from(m.buf));
    else if (m.hex !== undefined) {
      digestWaiter?.resolve(m.hex);
      digestWaiter = undefined;
    }
  });
  worker.on('error', fail);
  worker.on('exit', (code) => {
    if (!closed) fail(new Error(`digest worker exited with code ${code}`));
  });
  return {
    acquire: () => pool.acquire(),
    update(buf, length) {
      if (pool.failure) throw pool.failure;
      const ab = buf.buffer as ArrayBuffer;
      worker.postMessage({ buf: ab, length }, [ab]);
    },
    digest() {
      if (pool.failure) return Promise.reject(pool.failure);
      return new Promise((resolve, reject) => {
        digestWaiter = { resolve, reject };
        worker.postMessage({});
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      fail(new Error('digest closed'));
      await worker.terminate();
    },
  };
}
