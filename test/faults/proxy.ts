// A fault-injecting TCP proxy on loopback, put between agents and the broker: per connection it
// drops the connection at random times, stalls forwarding, splits writes into small pieces and
// delays them, all from a seeded generator, only within a bounded fault window, with counts.

import * as net from 'node:net';
import { once } from 'node:events';

/** Small seeded generator (mulberry32): the same seed makes the same choices in the same order. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultPlan {
  seed: number;
  /** Mean time between connection drops, per connection (exponential); 0: never drop. */
  dropMeanMs?: number;
  /** Mean time between stalls per connection; each stall stops both directions for stallMs. */
  stallMeanMs?: number;
  stallMs?: [number, number];
  /** Probability that one read is forwarded as pieces of 1..splitMaxBytes bytes (at most splitMaxPieces). */
  splitProbability?: number;
  splitMaxBytes?: number;
  splitMaxPieces?: number;
  /** Probability and range of a delay before forwarding one read (or one piece). */
  delayProbability?: number;
  delayMs?: [number, number];
  /** Targeted drop: the first `times` client→broker reads matching `match` are not forwarded; the connection drops instead. */
  dropOn?: { match: (data: Buffer) => boolean; times: number };
  /** Faults happen only this long after arm() (then the proxy forwards cleanly): runs end. */
  faultWindowMs: number;
}

export interface ProxyStats {
  connections: number;
  drops: number;
  targetedDrops: number;
  stalls: number;
  stalledMs: number;
  splitWrites: number;
  pieces: number;
  delays: number;
  delayedMs: number;
  bytesUp: number;
  bytesDown: number;
}

const HIGH_WATER = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One direction of one connection: reads queued in order, forwarded by a single pump. */
class Pipe {
  private queue: Buffer[] = [];
  private queued = 0;
  private pumping = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly conn: Connection,
    private readonly count: (n: number) => void,
    private readonly upstream = false,
  ) {
    from.on('data', (d: Buffer) => {
      if (this.upstream && conn.targeted(d)) return;
      this.queue.push(d);
      this.queued += d.length;
      if (this.queued > HIGH_WATER) from.pause();
      void this.pump();
    });
    from.on('end', () => {
      this.queue.push(Buffer.alloc(0)); // end marker, forwarded in order
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length && !this.conn.closed) {
        const d = this.queue.shift()!;
        this.queued -= d.length;
        if (this.queued < HIGH_WATER / 4 && this.from.isPaused()) this.from.resume();
        if (d.length === 0) {
          this.to.end();
          continue;
        }
        for (const piece of this.conn.cut(d)) {
          await this.conn.hold();
          if (this.conn.closed) return;
          this.count(piece.length);
          if (!this.to.write(piece)) await Promise.race([once(this.to, 'drain'), once(this.to, 'close')]);
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}

class Connection {
  closed = false;
  private stalledUntil = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly proxy: FaultProxy,
    readonly rand: () => number,
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
  ) {
    const p = proxy.plan;
    if (p.dropMeanMs) this.every(p.dropMeanMs, () => this.drop());
    if (p.stallMeanMs) this.every(p.stallMeanMs, () => this.stall());
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on('error', () => this.close()); // a reset peer is what this proxy is for
      s.on('close', () => this.close());
    }
    new Pipe(client, upstream, this, (n) => (proxy.stats.bytesUp += n), true);
    new Pipe(upstream, client, this, (n) => (proxy.stats.bytesDown += n));
  }

  /** Runs `fn` at exponentially distributed intervals while the fault window is open. */
  private every(meanMs: number, fn: () => void): void {
    const next = (): void => {
      const t = setTimeout(() => {
        if (this.closed || this.proxy.over()) return;
        if (this.proxy.faulty()) fn();
        next();
      }, -Math.log(1 - this.rand()) * meanMs);
      this.timers.push(t);
    };
    next();
  }

  /** True (and the connection dropped) when `d` is a read the plan drops the connection on. */
  targeted(d: Buffer): boolean {
    const t = this.proxy.plan.dropOn;
    if (!t || this.closed || this.proxy.stats.targetedDrops >= t.times || !t.match(d)) return false;
    this.proxy.stats.targetedDrops++;
    this.drop();
    return true;
  }

  private drop(): void {
    this.proxy.stats.drops++;
    // Half the drops are resets (RST), half orderly closes (FIN): both happen on real links.
    if (this.rand() < 0.5) this.client.resetAndDestroy();
    else this.client.destroy();
    this.upstream.destroy();
    this.close();
  }

  private stall(): void {
    const [lo, hi] = this.proxy.plan.stallMs ?? [100, 1000];
    const ms = Math.round(lo + this.rand() * (hi - lo));
    this.proxy.stats.stalls++;
    this.proxy.stats.stalledMs += ms;
    this.stalledUntil = Math.max(this.stalledUntil, Date.now() + ms);
  }

  /** Waits out a stall and a random delay before the next piece goes out. */
  async hold(): Promise<void> {
    const p = this.proxy.plan;
    if (this.proxy.faulty() && p.delayProbability && this.rand() < p.delayProbability) {
      const [lo, hi] = p.delayMs ?? [1, 20];
      const ms = Math.round(lo + this.rand() * (hi - lo));
      this.proxy.stats.delays++;
      this.proxy.stats.delayedMs += ms;
      await sleep(ms);
    }
    while (!this.closed && Date.now() < this.stalledUntil) await sleep(this.stalledUntil - Date.now());
  }

  /** Splits one read into small pieces (each becomes its own write on the other side). */
  cut(d: Buffer): Buffer[] {
    const p = this.proxy.plan;
    if (!this.proxy.faulty() || !p.splitProbability || this.rand() >= p.splitProbability) return [d];
    const max = p.splitMaxBytes ?? 64;
    const limit = p.splitMaxPieces ?? 32;
    const out: Buffer[] = [];
    let off = 0;
    while (off < d.length && out.length < limit - 1) {
      const n = 1 + Math.floor(this.rand() * max);
      out.push(d.subarray(off, off + n));
      off += n;
    }
    if (off < d.length) out.push(d.subarray(off));
    this.proxy.stats.splitWrites++;
    this.proxy.stats.pieces += out.length;
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.client.destroy();
    this.upstream.destroy();
    this.proxy.forget(this);
  }
}

export class FaultProxy {
  readonly stats: ProxyStats = { connections: 0, drops: 0, targetedDrops: 0, stalls: 0, stalledMs: 0, splitWrites: 0, pieces: 0, delays: 0, delayedMs: 0, bytesUp: 0, bytesDown: 0 };
  private readonly conns = new Set<Connection>();
  private armedAt: number | undefined;
  private calmed = false;

  private constructor(
    private readonly server: net.Server,
    readonly plan: FaultPlan,
    private readonly target: number,
    readonly port: number,
  ) {
    server.on('connection', (client) => {
      const n = ++this.stats.connections;
      // Each connection its own stream of choices, derived from the seed and its number.
      const rand = seededRandom(plan.seed * 7919 + n);
      // Half-open both ways, so an end is forwarded in order like any byte.
      const upstream = net.connect({ port: this.target, host: '127.0.0.1', allowHalfOpen: true });
      this.conns.add(new Connection(this, rand, client, upstream));
    });
  }

  /** Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number, plan: FaultPlan): Promise<FaultProxy> {
    const server = net.createServer({ allowHalfOpen: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new FaultProxy(server, plan, targetPort, (server.address() as net.AddressInfo).port);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Opens the fault window (devices connect cleanly first; the faults hit the update). */
  arm(): void {
    this.armedAt ??= Date.now();
  }

  /** True while faults may be injected. */
  faulty(): boolean {
    return this.armedAt !== undefined && !this.calmed && Date.now() - this.armedAt < this.plan.faultWindowMs;
  }

  /** The fault window has closed for good. */
  over(): boolean {
    return this.calmed || (this.armedAt !== undefined && Date.now() - this.armedAt >= this.plan.faultWindowMs);
  }

  /** Ends the fault window now. */
  calm(): void {
    this.calmed = true;
  }

  forget(c: Connection): void {
    this.conns.delete(c);
  }

  async close(): Promise<void> {
    this.calm();
    for (const c of [...this.conns]) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
