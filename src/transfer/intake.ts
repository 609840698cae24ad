// Frame handling of one receiving device, once its manifest is accepted: filter and check each
// frame, write new chunks through the ledger, notice lost frames (sequence gaps, bad CRCs,
// silence) and tell the publisher, acknowledge progress for flow control.

import type { MqttClient } from 'mqtt';
import { crc32 } from './crc.js';
import { CrcError } from './errors.js';
import { AckPolicy } from './flow.js';
import { decodeFrame, FLAG_SYNC, frameIsFor, releaseIdBytes, type ChunkFrame } from './frame.js';
import { HeldRowStore, type HeldSet } from './held-rows.js';
import { decodeRows, MAX_GENERATION, MAX_ROWS } from './repair.js';
import type { ChunkLedger, WantedPayload } from './ledger.js';
import { encodeDeviceMessage, type DeviceMessageKind } from './messages.js';
import type { ReleaseTopics } from './topics.js';

export interface ReceiverStats {
  /** Messages seen on the chunks topic, and chunk data bytes of this release among them. */
  framesReceived: number;
  bytesReceived: number;
  chunksWritten: number;
  bytesWritten: number;
  /** Chunks durable from an earlier run (resume) and all-zero chunks written locally. */
  resumedChunks: number;
  zeroChunks: number;
  duplicates: number;
  badCrc: number;
  badFrames: number;
  otherRelease: number;
  /** Frames the stream skipped (sequence gaps), and chunks named in requests after the first join. */
  framesLost: number;
  chunksRerequested: number;
  requestsSent: number;
  /** Repair frames taken, chunks rebuilt from them, rows dropped (memory cap, duplicates). */
  repairFrames: number;
  chunksRepaired: number;
  repairDropped: number;
}

export interface IntakeOptions {
  releaseId: string;
  deviceId: string;
  topics: ReleaseTopics;
  ledger: ChunkLedger;
  maxChunk: number;
  ackEveryFrames: number;
  ackEveryBytes: number;
  ackDelayMs: number;
  idleMs: number;
  /** Bytes of repair rows held for decoding; 0: repair frames are ignored. */
  repairMemory: number;
  onWarning(err: Error): void;
  onProgress(): void;
  /** A new chunk was written (not yet durable): the transfer is alive. */
  onChunk(): void;
  onComplete(): void;
  onError(err: unknown): void;
}

export class FrameIntake {
  readonly ledger: ChunkLedger;
  readonly stats: ReceiverStats;
  private readonly rid: Buffer;
  private readonly byIndex = new Map<number, WantedPayload>();
  private readonly acks: AckPolicy;
  private readonly held: HeldRowStore | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private epoch = 0;
  private seq = 0;
  private joins = 0;
  /** Something went missing since the last message to the publisher: the next one is a request. */
  private lossNoticed = false;
  private lastFrameAt = Date.now();
  private ackTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly client: MqttClient,
    private readonly o: IntakeOptions,
  ) {
    this.ledger = o.ledger;
    this.rid = releaseIdBytes(o.releaseId);
    for (const p of o.ledger.payloads) this.byIndex.set(p.index, p);
    this.acks = new AckPolicy(o.ackEveryFrames, o.ackEveryBytes);
    if (o.repairMemory > 0) this.held = new HeldRowStore(o.repairMemory);
    o.ledger.onDurable = () => o.onProgress();
    this.stats = {
      framesReceived: 0,
      bytesReceived: 0,
      chunksWritten: 0,
      bytesWritten: 0,
      resumedChunks: o.ledger.resumed,
      zeroChunks: 0,
      duplicates: 0,
      badCrc: 0,
      badFrames: 0,
      otherRelease: 0,
      framesLost: 0,
      chunksRerequested: 0,
      requestsSent: 0,
      repairFrames: 0,
      chunksRepaired: 0,
      repairDropped: 0,
    };
  }

  /** Runs `fn` after everything queued before it: frames, timers and joins never interleave. */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
  }

  onFrame(buf: Buffer): Promise<void> {
    return this.serial(() => this.handle(buf));
  }

  private async handle(buf: Buffer): Promise<void> {
    if (this.closed) return;
    this.stats.framesReceived++;
    if (!frameIsFor(buf, this.rid)) {
      this.stats.otherRelease++;
      return;
    }
    let f;
    try {
      f = decodeFrame(buf, this.o.maxChunk);
    } catch (err) {
      this.stats.badFrames++;
      this.o.onWarning(err as Error);
      return;
    }
    this.lastFrameAt = Date.now();
    if (f.epoch !== this.epoch) {
      // First frame, or a restarted publisher: its sequence numbers start over and it has not
      // heard our join, so join again.
      const restarted = this.epoch !== 0 || f.flags & FLAG_SYNC;
      this.epoch = f.epoch;
      this.seq = f.seq;
      this.held?.clear(); // a new run numbers its rows afresh: old ones would look like new ones
      if (restarted) await this.join();
      if (f.flags & FLAG_SYNC) return;
    } else if (f.flags & FLAG_SYNC) {
      // The publisher finished a pass: its last seq tells whether the last frames were lost.
      if (f.seq > this.seq) {
        this.stats.framesLost += f.seq - this.seq;
        this.seq = f.seq;
        this.lossNoticed = true;
        if (!this.ledger.complete) this.report();
      }
      return;
    } else if (f.seq > this.seq) {
      if (f.seq > this.seq + 1) {
        this.stats.framesLost += f.seq - this.seq - 1;
        this.lossNoticed = true;
      }
      this.seq = f.seq;
    }
    const p = this.byIndex.get(f.payload);
    if (p && f.repair) {
      if (this.held) await this.takeRepair(p, f);
    } else if (p) {
      if (f.chunk >= p.table.count || f.data.length !== p.table.length(f.chunk) || p.table.isZero(f.chunk)) {
        this.stats.badFrames++;
        this.o.onWarning(new CrcError(`frame for chunk ${f.chunk} of ${p.name} does not fit the chunk table`));
      } else {
        await this.take(p, f.chunk, f.crc, f.data);
      }
    }
    if (this.ledger.complete) {
      this.o.onComplete();
    } else if (this.acks.handled(f.data.length)) {
      this.report();
    } else if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => void this.serial(() => this.acks.pending && this.report()), this.o.ackDelayMs);
    }
  }

  private async take(p: WantedPayload, chunk: number, frameCrc: number, data: Uint8Array): Promise<void> {
    this.stats.bytesReceived += data.length;
    const crc = crc32(data);
    if (crc !== frameCrc || crc !== p.table.crc(chunk)) {
      this.stats.badCrc++;
      this.lossNoticed = true; // still missing: the next message asks for it
      this.o.onWarning(new CrcError(`chunk ${chunk} of ${p.name} failed its CRC-32 check`, { details: { payload: p.name, chunk } }));
      return;
    }
    if (this.ledger.has(p.index, chunk)) {
      this.stats.duplicates++;
      return;
    }
    await this.ledger.write(p, chunk, data);
    this.stats.chunksWritten++;
    this.stats.bytesWritten += data.length;
    this.o.onChunk();
    const set = this.held?.find(p.index, chunk);
    if (set) await this.tryDecode(set);
  }

  private async takeRepair(p: WantedPayload, f: ChunkFrame): Promise<void> {
    const { size, row } = f.repair!;
    const start = f.chunk;
    if (size === 0 || size > MAX_GENERATION || row >= MAX_ROWS || start + size > p.table.count || f.data.length !== p.table.chunkSize) {
      this.stats.badFrames++;
      this.o.onWarning(new CrcError(`repair frame for chunks ${start}+${size} of ${p.name} does not fit the chunk table`));
      return;
    }
    this.stats.bytesReceived += f.data.length;
    if (crc32(f.data) !== f.crc) {
      this.stats.badCrc++;
      this.lossNoticed = true;
      this.o.onWarning(new CrcError(`repair frame ${row} for chunks ${start}+${size} of ${p.name} failed its CRC-32 check`));
      return;
    }
    this.stats.repairFrames++;
    if (this.missingIn(p, start, size).length === 0) {
      this.stats.duplicates++;
      return;
    }
    const { set, kept } = this.held!.add(p, { start, size }, row, f.data);
    if (!kept) this.stats.repairDropped++;
    else await this.tryDecode(set);
  }

  private missingIn(p: WantedPayload, start: number, size: number): number[] {
    const out: number[] = [];
    for (let i = start; i < start + size; i++) if (!p.table.isZero(i) && !this.ledger.has(p.index, i)) out.push(i);
    return out;
  }

  /** Rebuilds a generation's missing chunks once enough rows are held; each must match its CRC. */
  private async tryDecode(set: HeldSet): Promise<void> {
    const { payload: p, gen } = set;
    const missing = this.missingIn(p, gen.start, gen.size);
    if (missing.length > set.rows.size) return;
    this.held!.remove(set);
    if (missing.length === 0) return;
    await this.ledger.settle(); // the chunks it reads back must be on the sink
    const rows = [...set.rows].slice(0, missing.length).map(([row, data]) => ({ row, data }));
    const rebuilt = await decodeRows(gen, missing, rows, p.table.chunkSize, (i) => (p.table.isZero(i) ? Promise.resolve(undefined) : this.ledger.read(p, i)));
    for (const [b, i] of missing.entries()) {
      const length = p.table.length(i);
      const data = rebuilt[b]!.subarray(0, length);
      if (crc32(data) !== p.table.crc(i) || rebuilt[b]!.subarray(length).some((x) => x !== 0)) {
        // A damaged or forged row: the chunk stays missing and is asked for again.
        this.stats.badCrc++;
        this.lossNoticed = true;
        this.o.onWarning(new CrcError(`chunk ${i} of ${p.name} rebuilt from repair frames failed its CRC-32 check`, { details: { payload: p.name, chunk: i } }));
        continue;
      }
      await this.ledger.write(p, i, data);
      this.stats.chunksRepaired++;
      this.stats.chunksWritten++;
      this.stats.bytesWritten += length;
      this.o.onChunk();
    }
  }

  /** Called by the receiver's watchdog: sync idle writes, ask again after silence. */
  tick(now: number): void {
    if (this.closed) return;
    if (now - this.lastFrameAt > this.o.idleMs) {
      this.lastFrameAt = now; // one join per idle period
      void this.serial(async () => {
        await this.ledger.flush();
        if (!this.ledger.complete) await this.join();
      }).catch((err: unknown) => this.o.onError(err));
    }
  }

  /** Tells the publisher everything we lack; it owes us all of it. */
  async join(): Promise<void> {
    if (this.ledger.complete) return;
    this.lossNoticed = false;
    this.send('join');
  }

  /** Tells the publisher we are complete; waits briefly for the broker to take it. */
  async sendDone(): Promise<void> {
    const delivered = new Promise<void>((resolve) => this.send('done', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    // Best effort: a broker outage now must not hold up a finished transfer; the publisher
    // also hears of the device through its status.
    await Promise.race([delivered, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
  }

  private report(): void {
    if (this.lossNoticed) {
      this.lossNoticed = false;
      this.send('request');
    } else {
      this.send('ack');
    }
  }

  private send(kind: DeviceMessageKind, onSent?: () => void): void {
    if (this.ackTimer) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
    }
    this.acks.sent();
    const missing = kind === 'join' || kind === 'request' ? this.ledger.missing() : undefined;
    if (missing) {
      this.stats.requestsSent++;
      if (this.joins++ > 0 || kind === 'request') for (const b of missing.values()) this.stats.chunksRerequested += b.count;
    }
    const held = missing && this.held ? { held: this.held.report() } : {};
    const msg = encodeDeviceMessage({ kind, device: this.o.deviceId, epoch: this.epoch, seq: this.seq, ...this.ledger.progress(), ...(missing ? { missing } : {}), ...held });
    this.client.publish(this.o.topics.requests, msg, { qos: 1 }, (err) => {
      if (err) this.o.onWarning(err);
      onSent?.();
    });
  }
}
