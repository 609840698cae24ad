// A fixed-size bit set over the chunks of one payload: which chunks a device has written or
// made durable, which ones the publisher still owes the fleet. Scans skip whole zero bytes,
// so walking a mostly-empty set of a 16 GiB payload stays cheap.

export type Range = [from: number, toExclusive: number];

export class Bitmap {
  readonly bytes: Uint8Array;
  private setCount = 0;

  constructor(readonly size: number, bytes?: Uint8Array) {
    this.bytes = new Uint8Array(Math.ceil(size / 8));
    if (bytes) {
      if (bytes.length !== this.bytes.length) throw new RangeError(`bitmap of ${size} bits needs ${this.bytes.length} bytes, got ${bytes.length}`);
      this.bytes.set(bytes);
      const tail = size & 7;
      if (tail) this.bytes[this.bytes.length - 1]! &= (1 << tail) - 1; // bits past the end mean nothing
      for (const b of this.bytes) this.setCount += popcount(b);
    }
  }

  get count(): number {
    return this.setCount;
  }

  get full(): boolean {
    return this.setCount === this.size;
  }

  has(i: number): boolean {
    return (this.bytes[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  /** Sets bit i; returns false when it was already set. */
  add(i: number): boolean {
    if (i < 0 || i >= this.size) throw new RangeError(`bit ${i} outside 0..${this.size - 1}`);
    const m = 1 << (i & 7);
    const b = this.bytes[i >> 3]!;
    if (b & m) return false;
    this.bytes[i >> 3] = b | m;
    this.setCount++;
    return true;
  }

  /** Clears bit i; returns false when it was already clear. */
  delete(i: number): boolean {
    const m = 1 << (i & 7);
    const b = this.bytes[i >> 3]!;
    if (!(b & m)) return false;
    this.bytes[i >> 3] = b & ~m;
    this.setCount--;
    return true;
  }

  /** First set bit at or after `from`, or -1. */
  nextSet(from: number): number {
    for (let i = Math.max(0, from); i < this.size; ) {
      const b = this.bytes[i >> 3]!;
      if (b === 0) {
        i = (i | 7) + 1;
        continue;
      }
      if (b & (1 << (i & 7))) return i;
      i++;
    }
    return -1;
  }

  /** First clear bit at or after `from`, or -1. */
  nextClear(from: number): number {
    for (let i = Math.max(0, from); i < this.size; ) {
      const b = this.bytes[i >> 3]!;
      if (b === 0xff) {
        i = (i | 7) + 1;
        continue;
      }
      if (!(b & (1 << (i & 7)))) return i;
      i++;
    }
    return -1;
  }

  /** Runs of set bits (set = true) or clear bits, as [from, toExclusive]. */
  ranges(set: boolean, limit = Infinity): Range[] {
    const out: Range[] = [];
    let i = set ? this.nextSet(0) : this.nextClear(0);
    while (i !== -1 && out.length < limit) {
      let end = set ? this.nextClear(i) : this.nextSet(i);
      if (end === -1) end = this.size;
      out.push([i, end]);
      i = set ? this.nextSet(end) : this.nextClear(end);
    }
    return out;
  }

  /** Sets every bit in [from, to): whole bytes at once, so a range costs its length / 8. */
  addRange(from: number, to: number): void {
    let i = from;
    for (; i < to && (i & 7) !== 0; i++) this.add(i);
    for (; i + 8 <= to; i += 8) {
      const at = i >> 3;
      this.setCount += 8 - popcount(this.bytes[at]!);
      this.bytes[at] = 0xff;
    }
    for (; i < to; i++) this.add(i);
  }

  clone(): Bitmap {
    return new Bitmap(this.size, this.bytes);
  }

  /** Bitwise complement (bits past `size` stay clear). */
  inverted(): Bitmap {
    const out = new Uint8Array(this.bytes.length);
    for (let i = 0; i < out.length; i++) out[i] = ~this.bytes[i]! & 0xff;
    return new Bitmap(this.size, out);
  }
}

function popcount(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}
