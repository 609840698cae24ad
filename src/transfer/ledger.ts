// The receiver's book of chunks: which are written, which are durable. Writes go to the sink
// at once; every N chunks (or bytes) the sink is synced and only then is the bitmap persisted,
// so the file never claims a chunk that a power cut could still take away.

import type { ChunkTable } from '../bundle/manifest.js';
import type { FileSystem } from '../platform/fs.js';
import { Bitmap } from './bitmap.js';
import { BitmapStore } from './bitmap-store.js';

/** Where received chunks go (the agent's slot writer). */
export interface ChunkSink {
  /** Writes chunk `index` of payload `payload` (bytes at index × chunkSize). */
  write(payload: string, index: number, data: Uint8Array): Promise<void>;
  /** Chunk `index` is all zeros (`length` bytes): write zeros, or skip on a target known to be zeroed. */
  writeZero(payload: string, index: number, length: number): Promise<void>;
  /** Makes every write so far durable (fdatasync). */
  sync(): Promise<void>;
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
}

export class ChunkLedger {
  readonly total: number;
  readonly totalBytes: number;
  private readonly bits = new Map<number, Bitmap>();
  private readonly store: BitmapStore;
  private writtenChunks = 0;
  private writtenBytes = 0;
  private pendingChunks = 0;
  private pendingBytes = 0;
  private durableChunks = 0;
  private durableBytes = 0;
  /** Chunks already durable when this run started (resume). */
  resumed = 0;

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
      for (let i = b.nextSet(0); i !== -1; i = b.nextSet(i + 1)) this.writtenBytes += p.table.length(i);
      this.writtenChunks += b.count;
    }
    this.durableChunks = this.resumed = this.writtenChunks;
    this.durableBytes = this.writtenBytes;
  }

  has(p: number, i: number): boolean {
    return this.bits.get(p)!.has(i);
  }

  get complete(): boolean {
    return this.writtenChunks === this.total;
  }

  get dirty(): boolean {
    return this.pendingChunks > 0;
  }

  progress(): { have: number; total: number; bytes: number; totalBytes: number } {
    return { have: this.durableChunks, total: this.total, bytes: this.durableBytes, totalBytes: this.totalBytes };
  }

  /** Writes a chunk the ledger does not have yet; syncs when the policy says so. */
  async write(p: WantedPayload, i: number, data: Uint8Array): Promise<void> {
    await this.sink.write(p.name, i, data);
    await this.mark(p, i, data.length);
  }

  /** Lets the sink write the all-zero chunks not yet durable (they never travel). */
  async writeZeros(): Promise<number> {
    let n = 0;
    for (const p of this.payloads) {
      const b = this.bits.get(p.index)!;
      for (let i = 0; i < p.table.count; i++) {
        if (!p.table.isZero(i) || b.has(i)) continue;
        await this.sink.writeZero(p.name, i, p.table.length(i));
        await this.mark(p, i, p.table.length(i));
        n++;
      }
    }
    return n;
  }

  private async mark(p: WantedPayload, i: number, length: number): Promise<void> {
    this.bits.get(p.index)!.add(i);
    this.writtenChunks++;
    this.writtenBytes += length;
    this.pendingChunks++;
    this.pendingBytes += length;
    if (this.pendingChunks >= this.policy.chunks || this.pendingBytes >= this.policy.bytes || this.complete) await this.flush();
  }

  /** Syncs the sink, then records every written chunk as durable. */
  async flush(): Promise<boolean> {
    if (this.pendingChunks === 0) return false;
    await this.sink.sync();
    await this.store.save(this.bits);
    this.pendingChunks = this.pendingBytes = 0;
    this.durableChunks = this.writtenChunks;
    this.durableBytes = this.writtenBytes;
    return true;
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
