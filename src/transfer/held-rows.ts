// The device's repair rows that cannot be used yet: a generation with m chunks missing needs m
// distinct rows before it can be rebuilt. Rows live in memory under a byte cap (a row is a
// chunk's size); they are only bandwidth, so a restart, a new publisher epoch or the cap simply
// drops them and the device reports fewer held rows.

import type { WantedPayload } from './ledger.js';
import type { HeldRows } from './messages.js';
import type { Generation } from './repair.js';

export interface HeldSet {
  payload: WantedPayload;
  gen: Generation;
  rows: Map<number, Uint8Array>;
}

export class HeldRowStore {
  private readonly sets = new Map<string, HeldSet>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  private static key(payload: number, start: number, size: number): string {
    return `${payload}:${start}:${size}`;
  }

  /** Keeps a copy of a row; false when it is a duplicate or over the memory cap. */
  add(payload: WantedPayload, gen: Generation, row: number, data: Uint8Array): { set: HeldSet; kept: boolean } {
    const key = HeldRowStore.key(payload.index, gen.start, gen.size);
    let set = this.sets.get(key);
    if (!set) this.sets.set(key, (set = { payload, gen, rows: new Map() }));
    if (set.rows.has(row) || this.bytes + data.length > this.maxBytes) return { set, kept: false };
    set.rows.set(row, Buffer.from(data)); // the frame's buffer belongs to MQTT.js
    this.bytes += data.length;
    return { set, kept: true };
  }

  /** The held set whose generation holds chunk `i` of payload `p`, if any. */
  find(p: number, i: number): HeldSet | undefined {
    for (const set of this.sets.values()) {
      if (set.payload.index === p && i >= set.gen.start && i < set.gen.start + set.gen.size) return set;
    }
    return undefined;
  }

  remove(set: HeldSet): void {
    const key = HeldRowStore.key(set.payload.index, set.gen.start, set.gen.size);
    if (this.sets.get(key) !== set) return;
    for (const r of set.rows.values()) this.bytes -= r.length;
    this.sets.delete(key);
  }

  clear(): void {
    this.sets.clear();
    this.bytes = 0;
  }

  /** What the publisher needs to know: rows held per generation. */
  report(): HeldRows[] {
    return [...this.sets.values()].filter((s) => s.rows.size > 0).map((s) => ({ payload: s.payload.index, start: s.gen.start, size: s.gen.size, count: s.rows.size }));
  }
}
