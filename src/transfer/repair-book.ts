// The publisher's book of repair rows: how many fresh rows each generation still owes the fleet,
// which rows went out and when, and the rows encoded but not yet sent. Every fresh row helps
// every device short of rows in that generation, so the fleet is owed the largest shortfall of
// any one device, not the sum: that is what keeps the stream near the image size when every
// device loses its own frames.

import type { ChunkTable } from '../bundle/manifest.js';
import { Bitmap } from './bitmap.js';
import type { HeldRows } from './messages.js';
import { DEFAULT_GENERATION, encodeRows, generationOf, MAX_GENERATION, MAX_ROWS, type Generation } from './repair.js';

export interface RepairOptions {
  /** Chunks per generation (at most 128). */
  generation: number;
  /** Rows encoded in one pass over a generation's chunks. */
  batch: number;
  /**
   * A device lacking more than this share of a generation gets the chunks themselves: rows would
   * cost it a decode over the whole generation, and another device will want the chunks too.
   */
  directShare: number;
}

export const DEFAULT_REPAIR: RepairOptions = { generation: DEFAULT_GENERATION, batch: 16, directShare: 0.25 };

interface GenerationBook {
  /** Fresh rows owed and not yet encoded. */
  owed: number;
  /** Rows encoded and waiting in the queue. */
  queued: number;
  nextRow: number;
  /** Sequence numbers of the rows sent, in order. */
  sentSeqs: number[];
}

export interface ReadyRow {
  payload: number;
  gen: Generation;
  row: number;
  data: Buffer;
}

export class RepairBook {
  private readonly opts: RepairOptions;
  private readonly books: Map<number, GenerationBook>[];
  private readonly queue: ReadyRow[] = [];
  /** Sum of every generation's owed rows: hasWork() runs before every frame the pump sends. */
  private owedTotal = 0;

  constructor(
    private readonly tables: readonly ChunkTable[],
    opts: Partial<RepairOptions>,
  ) {
    this.opts = { ...DEFAULT_REPAIR, ...opts };
    if (!Number.isInteger(this.opts.generation) || this.opts.generation < 1 || this.opts.generation > MAX_GENERATION) {
      throw new RangeError(`repair generation of ${this.opts.generation} chunks is outside 1..${MAX_GENERATION}`);
    }
    this.books = tables.map(() => new Map());
  }

  private book(p: number, start: number): GenerationBook {
    let b = this.books[p]!.get(start);
    if (!b) this.books[p]!.set(start, (b = { owed: 0, queued: 0, nextRow: 0, sentSeqs: [] }));
    return b;
  }

  /**
   * A device lacks `uncovered` chunks of payload `p` that nothing in flight or owed will bring,
   * has handled frames up to `upTo` and holds `held` rows. Owes the fleet the rows it is short
   * of; returns the chunks it should get directly instead (too many lost, or rows used up).
   */
  owe(p: number, uncovered: Bitmap, upTo: number, held: readonly HeldRows[]): Bitmap {
    const table = this.tables[p]!;
    const direct = new Bitmap(table.count);
    for (let i = uncovered.nextSet(0); i !== -1; ) {
      const gen = generationOf(i, table.count, this.opts.generation);
      const end = gen.start + gen.size;
      const lost: number[] = [];
      for (; i !== -1 && i < end; i = uncovered.nextSet(i + 1)) lost.push(i);
      const b = this.book(p, gen.start);
      const holds = held.find((h) => h.payload === p && h.start === gen.start && h.size === gen.size)?.count ?? 0;
      const inFlight = b.sentSeqs.reduce((n, seq) => n + (seq > upTo ? 1 : 0), 0);
      const short = lost.length - holds - inFlight;
      if (short <= 0) continue;
      const coming = b.owed + b.queued;
      const extra = Math.max(0, short - coming);
      if (lost.length > gen.size * this.opts.directShare || b.nextRow + coming + extra > MAX_ROWS) {
        for (const c of lost) direct.add(c);
        continue;
      }
      b.owed += extra;
      this.owedTotal += extra;
    }
    return direct;
  }

  hasWork(): boolean {
    return this.queue.length > 0 || this.owedTotal > 0;
  }

  /** The next encoded row, if any. */
  peek(): ReadyRow | undefined {
    return this.queue[0];
  }

  /** Encodes up to `batch` owed rows of the first generation that owes any, in one pass over its chunks. */
  async encodeNext(read: (p: number, i: number) => Promise<Uint8Array | undefined>): Promise<ReadyRow | undefined> {
    for (const [p, books] of this.books.entries()) {
      for (const [start, b] of [...books].sort((x, y) => x[0] - y[0])) {
        if (b.owed === 0) continue;
        const table = this.tables[p]!;
        const gen = generationOf(start, table.count, this.opts.generation);
        const k = Math.min(b.owed, this.opts.batch);
        const rows = Array.from({ length: k }, (_, j) => b.nextRow + j);
        b.nextRow += k;
        b.owed -= k;
        this.owedTotal -= k;
        b.queued += k;
        const data = await encodeRows(gen, rows, table.chunkSize, (i) => read(p, i));
        rows.forEach((row, j) => this.queue.push({ payload: p, gen, row, data: data[j]! }));
        return this.queue[0];
      }
    }
    return undefined;
  }

  /** Removes the row peek() returned; call sent() once it has its sequence number. */
  take(): ReadyRow | undefined {
    return this.queue.shift();
  }

  sent(r: ReadyRow, seq: number): void {
    const b = this.book(r.payload, r.gen.start);
    b.queued--;
    b.sentSeqs.push(seq);
  }
}
