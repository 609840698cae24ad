// End-to-end flow control of a release stream. mosquitto queues at most 1000 messages per
// client and then drops QoS 1 messages silently, so the broker's PUBACK says nothing about a
// device. The publisher instead counts frames (and bytes) sent since each device's last
// acknowledged sequence number and stops at a window; the slowest live device sets the pace.

export interface WindowOptions {
  /** Frames in flight per device; keep well under the broker's per-client queue (mosquitto: 1000). */
  frames: number;
  /** Bytes in flight per device. */
  bytes: number;
  /** A device silent this long while frames are in flight no longer holds the stream back. */
  stallMs: number;
}

export const DEFAULT_WINDOW: WindowOptions = { frames: 256, bytes: 16 * 1024 * 1024, stallMs: 10_000 };

/** Cumulative bytes by sequence number for the most recent sends. */
export class SendLog {
  private readonly cum: Float64Array;
  private latest = 0;

  constructor(private readonly capacity: number) {
    this.cum = new Float64Array(capacity);
  }

  get seq(): number {
    return this.latest;
  }

  record(seq: number, bytes: number): void {
    const prev = this.latest === 0 ? 0 : this.cum[this.latest % this.capacity]!;
    this.latest = seq;
    this.cum[seq % this.capacity] = prev + bytes;
  }

  /** Bytes sent after `seq` (Infinity when `seq` fell out of the log). */
  bytesAfter(seq: number): number {
    if (seq >= this.latest) return 0;
    if (this.latest - seq >= this.capacity) return Infinity;
    const base = seq === 0 ? 0 : this.cum[seq % this.capacity]!;
    return this.cum[this.latest % this.capacity]! - base;
  }
}

export interface DeviceFlow {
  /** Frames up to this sequence number are handled by the device or were sent before it joined. */
  base: number;
  lastHeard: number;
  done: boolean;
}

export class FleetWindow {
  readonly devices = new Map<string, DeviceFlow>();
  readonly log: SendLog;

  constructor(readonly opts: WindowOptions) {
    this.log = new SendLog(Math.max(opts.frames * 4, 64));
  }

  /** A device (re)joins: frames already sent are not in flight to it. */
  join(device: string, now: number): DeviceFlow {
    const d = { base: this.log.seq, lastHeard: now, done: false };
    this.devices.set(device, d);
    return d;
  }

  /** A device acknowledges it handled frames up to `seq` of the current epoch. */
  heard(device: string, seq: number | undefined, now: number): DeviceFlow | undefined {
    const d = this.devices.get(device);
    if (!d) return undefined;
    d.lastHeard = now;
    if (seq !== undefined && seq > d.base && seq <= this.log.seq) d.base = seq;
    return d;
  }

  private inFlight(d: DeviceFlow): { frames: number; bytes: number } {
    return { frames: this.log.seq - d.base, bytes: this.log.bytesAfter(d.base) };
  }

  /**
   * Whether one more frame of `bytes` may go out now. When not, `retryAt` is when a stalled
   * device stops counting (the caller also retries on every ack).
   */
  check(bytes: number, now: number): { open: boolean; retryAt?: number } {
    let retryAt: number | undefined;
    for (const d of this.devices.values()) {
      if (d.done) continue;
      const f = this.inFlight(d);
      if (f.frames === 0) continue;
      if (f.frames < this.opts.frames && f.bytes + bytes <= Math.max(this.opts.bytes, bytes)) continue;
      const stallAt = d.lastHeard + this.opts.stallMs;
      if (stallAt <= now) continue; // stalled: repaired from its next request instead
      retryAt = retryAt === undefined ? stallAt : Math.min(retryAt, stallAt);
    }
    return retryAt === undefined ? { open: true } : { open: false, retryAt };
  }
}

/** Receiver side: when to tell the publisher how far it got. */
export class AckPolicy {
  private frames = 0;
  private bytes = 0;

  constructor(
    private readonly everyFrames: number,
    private readonly everyBytes: number,
  ) {}

  /** Counts a handled frame; true when an ack is due now. */
  handled(bytes: number): boolean {
    this.frames++;
    this.bytes += bytes;
    return this.frames >= this.everyFrames || this.bytes >= this.everyBytes;
  }

  get pending(): boolean {
    return this.frames > 0;
  }

  sent(): void {
    this.frames = 0;
    this.bytes = 0;
  }
}
