// The receiver's book of chunks: which are written, which are durable. Writes go to the sink
// at once (a few in flight); every N chunks (or bytes) the sink is synced in the background and
// only then is the bitmap persisted, so the file never claims a chunk a power cut could take.

import type { ChunkTable } from '../bundle/manifest.js';
import type { FileSystem } from '../platform/fs.js';
import { Bitmap } from './bitmap.js';
import { BitmapStore } from './bitmap-store.js';

/**
 * Where received chunks go (the agent's slot writer). Calls overlap: up to `writesInFlight`
 * writes may be pending at once (each at its own offset), and sync() may run while later writes
 * are pending; it must make durable every write that resolved before sync() was called.
 */
export interface ChunkSink {
  /** Writes chunk `index` of payload `payload` (bytes at index × chunkSize). */
  write(payload: string, index: number, data: Uint8Array): Promise<void>;
  /** Chunk `index` is all zeros (`length` bytes): write zeros, or skip on a target known to be zeroed. */
  writeZero(payload: string, index: number, length: number): Promise<void>;
  /** Makes every write so far durable (fdatasync). */
  sync(): Promise<void>;
  /**
   * Reads back chunk `index` (`length` bytes) once its write has finished. Optional: a sink that
   * can read lets the receiver rebuild lost chunks from repair frames.
   */
  read?(payload: string, index: number, length: number): Promise<Uint8Array>;
}

export interface WantedPayload {
  /** Index in the manifest's payload list (what frames carry). */
  index: number;
  name: string;
  table: ChunkTable;
}

export interface SyncPolicy {
  chunks: number;
  bytes: number;
  /** Writes handed to the sink and not finished yet; lets the network run ahead of the disk. */
  writesInFlight: number;
}

export class ChunkLedger {
  readonly total: number;
  readonly totalBytes: number;
  /** Chunks written or being written (what a duplicate is checked against). */
  private readonly bits = new Map<number, Bitmap>();
  private readonly store: BitmapStore;
  private readonly inflight = new Set<Promise<void>>();
  private writtenChunks = 0;
  private writtenBytes = 0;
  private pendingChunks = 0;
  private pendingBytes = 0;
  private durableChunks = 0;
  private durableBytes = 0;
  private flushing: Promise<void> | undefined;
  private failure: { err: unknown } | undefined;
  /** The bitmap as last made durable (loaded, or the snapshot of the last sync). */
  private durableBits = new Map<number, Bitmap>();
  /** Chunks already durable when this run started (resume). */
  resumed = 0;
  /** Called each time more chunks became durable. */
  onDurable: () => void = () => undefined;

  constructor(
    fs: FileSystem,
    dataDir: string,
    releaseId: string,
    readonly payloads: WantedPayload[],
    private readonly sink: ChunkSink,
    private readonly policy: SyncPolicy,
  ) {
    this.store = new BitmapStore(fs, dataDir, { releaseId, payloads: payloads.map((p) => ({ index: p.index, count: p.table.count, chunkSize: p.table.chunkSize })) });
    this.total = payloads.reduce((n, p) => n + p.table.count, 0);
    this.totalBytes = payloads.reduce((n, p) => n + p.table.size, 0);
  }

  async load(onDiscard: (reason: string) => void): Promise<void> {
    const maps = await this.store.load(onDiscard);
    for (const p of this.payloads) {
      const b = maps.get(p.index)!;
      this.bits.set(p.index, b);
      this.durableBits.set(p.index, b.clone());
      for (let i = b.nextSet(0); i !== -1; i = b.nextSet(i + 1)) this.writtenBytes += p.table.length(i);
      this.writtenChunks += b.count;
    }
    this.durableChunks = this.resumed = this.writtenChunks;
    this.durableBytes = this.writtenBytes;
  }

  has(p: number, i: number): boolean {
    return this.bits.get(p)!.has(i);
  }

  /** Every wanted chunk is written or being written (flush() makes them durable). */
  get complete(): boolean {
    return this.writtenChunks === this.total;
  }

  progress(): { have: number; total: number; bytes: number; totalBytes: number } {
    return { have: this.durableChunks, total: this.total, bytes: this.durableBytes, totalBytes: this.totalBytes };
  }

  /** Hands a chunk the ledger does not have yet to the sink. */
  write(p: WantedPayload, i: number, data: Uint8Array): Promise<void> {
    return this.issue(p, i, data.length, () => this.sink.write(p.name, i, data));
  }

  /**
   * Bytes from the start of payload `p` that are durable without a gap: what a read-back may
   * verify while the rest is still arriving.
   */
  durablePrefix(p: WantedPayload): number {
    const bits = this.durableBits.get(p.index);
    const first = bits ? bits.nextClear(0) : 0;
    return first === -1 ? p.table.size : p.table.offset(first);
  }

  /** Whether chunks can be read back (and so rebuilt from repair frames). */
  get canRead(): boolean {
    return this.sink.read !== undefined;
  }

  /** Waits until every write handed to the sink so far has finished. */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.race(this.inflight);
    this.check();
  }

  /** Reads back a chunk already written (call settle() first). */
  read(p: WantedPayload, i: number): Promise<Uint8Array> {
    return this.sink.read!(p.name, i, p.table.length(i));
  }

  /** Lets the sink write the all-zero chunks not yet durable (they never travel). */
  async writeZeros(): Promise<number> {
    let n = 0;
    for (const p of this.payloads) {
      const b = this.bits.get(p.index)!;
      for (let i = 0; i < p.table.count; i++) {
        if (!p.table.isZero(i) || b.has(i)) continue;
        const length = p.table.length(i);
        await this.issue(p, i, length, () => this.sink.writeZero(p.name, i, length));
        n++;
      }
    }
    return n;
  }

  private check(): void {
    if (this.failure) throw this.failure.err;
  }

  private async issue(p: WantedPayload, i: number, length: number, write: () => Promise<void>): Promise<void> {
    this.check();
    while (this.inflight.size >= this.policy.writesInFlight) {
      await Promise.race(this.inflight);
      this.check();
    }
    this.bits.get(p.index)!.add(i);
    this.writtenChunks++;
    this.writtenBytes += length;
    this.pendingChunks++;
    this.pendingBytes += length;
    const w: Promise<void> = write().then(
      () => void this.inflight.delete(w),
      (err: unknown) => {
        this.inflight.delete(w);
        this.failure ??= { err };
      },
    );
    this.inflight.add(w);
    if (this.pendingChunks >= this.policy.chunks || this.pendingBytes >= this.policy.bytes) {
      // One sync runs in the background while the stream goes on; a second batch waits for it,
      // so at most two batches are ever unsynced.
      if (this.flushing) await this.flushing;
      this.check();
      if (this.pendingChunks >= this.policy.chunks || this.pendingBytes >= this.policy.bytes) this.startBatch();
    }
  }

  /**
   * Makes the chunks written so far durable: waits for their writes, syncs the sink, then
   * persists a snapshot of the bitmap taken before the sync, so the file never lists a chunk
   * whose write the sync did not cover.
   */
  private startBatch(): void {
    const snapshot = new Map([...this.bits].map(([k, b]) => [k, b.clone()]));
    const chunks = this.writtenChunks;
    const bytes = this.writtenBytes;
    const writes = [...this.inflight];
    this.pendingChunks = this.pendingBytes = 0;
    const run = async (): Promise<void> => {
      try {
        await Promise.all(writes);
        this.check();
        await this.sink.sync();
        await this.store.save(snapshot);
        this.durableChunks = chunks;
        this.durableBits = snapshot;
        this.durableBytes = bytes;
        this.onDurable();
      } catch (err) {
        this.failure ??= { err };
      }
    };
    const batch: Promise<void> = run().finally(() => {
      if (this.flushing === batch) this.flushing = undefined;
    });
    this.flushing = batch;
  }

  /** Syncs everything written so far; resolves true when more chunks became durable. */
  async flush(): Promise<boolean> {
    const before = this.durableChunks;
    if (this.flushing) await this.flushing;
    this.check();
    if (this.pendingChunks > 0) {
      this.startBatch();
      await this.flushing;
      this.check();
    }
    return this.durableChunks !== before;
  }

  /** Chunks still to fetch per payload index (all-zero chunks are never fetched). */
  missing(): Map<number, Bitmap> {
    const out = new Map<number, Bitmap>();
    for (const p of this.payloads) {
      const m = this.bits.get(p.index)!.inverted();
      for (let i = m.nextSet(0); i !== -1; i = m.nextSet(i + 1)) if (p.table.isZero(i)) m.delete(i);
      out.set(p.index, m);
    }
    return out;
  }
}
