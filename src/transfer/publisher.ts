// The publisher side: serves one release to the whole fleet. It keeps the signed manifest
// retained, gathers what every device lacks into one "owed" set per payload, and streams each
// owed chunk once to the shared chunks topic, paced by the devices' acknowledgements.

import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { ChunkTable, releaseId as computeReleaseId, type Manifest } from '../bundle/manifest.js';
import { errorMessage, IoError, SlotflipError } from '../errors.js';
import { announcementMessages, withdrawAnnouncements, type AnnounceOptions } from './announce.js';
import { Bitmap } from './bitmap.js';
import { crc32 } from './crc.js';
import { encodeEnvelope } from './envelope.js';
import { CrcError, FrameError, TransferAbortedError } from './errors.js';
import { DEFAULT_WINDOW, FleetWindow, type WindowOptions } from './flow.js';
import { encodeFrame, FLAG_SYNC, FRAME_HEADER_BYTES, releaseIdBytes } from './frame.js';
import { decodeDeviceMessage, type DeviceMessage, type HeldRows } from './messages.js';
import { RepairBook, type RepairOptions } from './repair-book.js';
import { messageRouter, setNoDelay } from './mqtt.js';
import { releaseTopics, type ReleaseTopics } from './topics.js';
import { Wakeup } from './wakeup.js';

export interface ServeOptions {
  prefix?: string;
  board: string;
  manifestBytes: Uint8Array;
  sigBytes: Uint8Array;
  /** The parsed manifest of `manifestBytes` (the caller has it from the bundle). */
  manifest: Manifest;
  /** Reads `length` bytes of payload `name` at `offset`. */
  openPayload(name: string, offset: number, length: number): Promise<Uint8Array>;
  window?: Partial<WindowOptions>;
  /** After a quiet stream, wait this long for more requests so they share one pass. */
  coalesceMs?: number;
  /** QoS 1 publishes not yet acknowledged by the broker (bounds MQTT.js's memory). */
  maxUnacked?: number;
  /**
   * Repair losses of devices that decode repair frames with coded frames (one frame repairs a
   * different chunk at each device); false: only ever resend lost chunks.
   */
  repair?: Partial<RepairOptions> | false;
  /** Where to announce the release; false: do not announce (the caller does). */
  announce?: Omit<AnnounceOptions, 'prefix' | 'board' | 'releaseId'> | false;
}

export interface DeviceProgress {
  device: string;
  /** Chunks durable on the device / chunks it wants (all-zero ones included). */
  have: number;
  total: number;
  bytes: number;
  totalBytes: number;
  done: boolean;
}

export interface PublisherStats {
  framesSent: number;
  bytesSent: number;
  /** Chunks sent again because a device reported them lost. */
  resent: number;
  /** Repair frames sent (counted in framesSent and, at chunkSize each, in bytesSent). */
  repairSent: number;
  badMessages: number;
}

export interface ReleaseServerEvents {
  join: [device: string];
  progress: [p: DeviceProgress];
  complete: [device: string];
  warning: [err: Error];
  error: [err: Error];
}

export class ReleaseServer extends EventEmitter<ReleaseServerEvents> {
  readonly releaseId: string;
  readonly topics: ReleaseTopics;
  readonly epoch = randomInt(1, 2 ** 32 - 1);
  readonly stats: PublisherStats = { framesSent: 0, bytesSent: 0, resent: 0, repairSent: 0, badMessages: 0 };
  readonly progress = new Map<string, DeviceProgress>();
  /** Resolves when the server stops; rejects with the error that stopped it. */
  readonly closed: Promise<void>;

  private readonly tables: ChunkTable[];
  private readonly owed: Bitmap[];
  private readonly lastSent: Uint32Array[];
  private readonly repairs: RepairBook | undefined;
  /** Frames went out since the last sync frame: at the end of a pass, one tells devices the last seq. */
  private sentSinceSync = false;
  private readonly window: FleetWindow;
  private readonly ridBytes: Buffer;
  private readonly envelope: Buffer;
  private readonly announcements: Map<string, Buffer>;
  private readonly wake = new Wakeup();
  private readonly cleanups: (() => void)[] = [];
  private cursor = { p: 0, i: 0 };
  private seq = 0;
  private unacked = 0;
  private lastSyncAt = 0;
  private stopped = false;
  private settle!: { resolve: () => void; reject: (err: Error) => void };

  constructor(
    private readonly client: MqttClient,
    private readonly o: ServeOptions,
  ) {
    super();
    this.releaseId = computeReleaseId(o.manifestBytes);
    this.topics = releaseTopics(o.prefix, o.board, this.releaseId);
    this.ridBytes = releaseIdBytes(this.releaseId);
    this.envelope = encodeEnvelope(o.manifestBytes, o.sigBytes);
    this.tables = o.manifest.payloads.map((p) => new ChunkTable(p));
    this.owed = this.tables.map((t) => new Bitmap(t.count));
    this.lastSent = this.tables.map((t) => new Uint32Array(t.count));
    this.repairs = o.repair === false ? undefined : new RepairBook(this.tables, o.repair ?? {});
    this.window = new FleetWindow({ ...DEFAULT_WINDOW, ...o.window });
    this.announcements =
      o.announce === false ? new Map() : announcementMessages({ ...o.announce, prefix: o.prefix, board: o.board, releaseId: this.releaseId, version: o.manifest.version });
    this.closed = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.closed.catch(() => undefined); // callers who only listen to 'error' must not see an unhandled rejection
  }

  async start(): Promise<void> {
    const unroute = messageRouter(this.client).route(this.topics.requests, (payload) => this.onDeviceMessage(payload), (err) => this.fail(err));
    this.cleanups.push(unroute, setNoDelay(this.client));
    const onConnect = (): void => void this.publishRetained().then(() => this.wake.poke(), (err: unknown) => this.warn(err));
    this.client.on('connect', onConnect);
    this.cleanups.push(() => this.client.off('connect', onConnect));
    await this.client.subscribeAsync(this.topics.requests, { qos: 1 });
    await this.publishRetained();
    void this.pump().catch((err: unknown) => this.fail(err));
  }

  /** Retained manifest and announcements, plus a sync frame so listening devices (re)join. */
  private async publishRetained(): Promise<void> {
    await this.client.publishAsync(this.topics.manifest, this.envelope, { qos: 1, retain: true });
    await Promise.all([...this.announcements].map(([t, m]) => this.client.publishAsync(t, m, { qos: 1, retain: true })));
    this.sendSync();
  }

  private sendSync(): void {
    this.lastSyncAt = Date.now();
    this.sentSinceSync = false;
    const frame = encodeFrame({ releaseId: this.ridBytes, flags: FLAG_SYNC, epoch: this.epoch, seq: this.seq, payload: 0, chunk: 0, data: Buffer.alloc(0), crc: 0 });
    this.client.publish(this.topics.chunks, frame, { qos: 1 }, (err) => err && this.warn(err));
  }

  /** Resolves once every listed device reported all its chunks durable. */
  whenComplete(devices: string[]): Promise<void> {
    const pending = new Set(devices.filter((d) => !this.progress.get(d)?.done));
    if (pending.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onComplete = (d: string): void => {
        pending.delete(d);
        if (pending.size === 0) done();
      };
      const done = (err?: Error): void => {
        this.off('complete', onComplete);
        if (err) reject(err);
        else resolve();
      };
      this.on('complete', onComplete);
      this.closed.then(() => pending.size && done(new TransferAbortedError(`release server closed before ${[...pending].join(', ')} completed`)), done);
    });
  }

  async close(opts: { withdraw?: boolean } = {}): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.wake.poke();
      for (const c of this.cleanups.splice(0)) c();
      this.settle.resolve();
    }
    if (opts.withdraw && this.client.connected) {
      await withdrawAnnouncements(this.client, [this.topics.manifest, ...this.announcements.keys()]);
    }
    if (this.client.connected) await this.client.unsubscribeAsync(this.topics.requests);
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    const e = err instanceof Error ? err : new Error(errorMessage(err));
    this.stopped = true;
    this.wake.poke();
    for (const c of this.cleanups.splice(0)) c();
    this.settle.reject(e);
    if (this.listenerCount('error')) this.emit('error', e);
  }

  private warn(err: unknown): void {
    this.emit('warning', err instanceof Error ? err : new Error(errorMessage(err)));
  }

  private onDeviceMessage(payload: Buffer): void {
    let m: DeviceMessage;
    try {
      m = decodeDeviceMessage(payload, this.tables.map((t) => t.count));
    } catch (err) {
      this.stats.badMessages++;
      this.warn(err);
      return;
    }
    const now = Date.now();
    const known = this.window.devices.has(m.device) && m.epoch === this.epoch;
    if (m.kind === 'join' || (!known && m.missing)) {
      this.window.join(m.device, now);
      this.owe(m.missing, Infinity, m.held);
      this.emit('join', m.device);
    } else if (!known) {
      // A device of an earlier publisher run: it will re-join once it sees our epoch.
      if (now - this.lastSyncAt > 1000) this.sendSync();
    } else {
      this.window.heard(m.device, m.seq, now);
      if (m.kind === 'request') this.owe(m.missing, m.seq, m.held);
    }
    const flow = this.window.devices.get(m.device);
    if (m.kind === 'done' && flow) flow.done = true;
    const p: DeviceProgress = { device: m.device, have: m.have, total: m.total, bytes: m.bytes, totalBytes: m.totalBytes, done: m.kind === 'done' };
    const wasDone = this.progress.get(m.device)?.done === true;
    this.progress.set(m.device, p);
    this.emit('progress', p);
    if (p.done && !wasDone) this.emit('complete', m.device);
    this.wake.poke();
  }

  /**
   * Marks what a device lacks as owed; a chunk sent after `upTo` is still in flight to it and
   * skipped. A device that decodes repair frames (`held` present) is owed repair rows for the
   * generations where it lacks a few chunks, and the chunks themselves where it lacks many.
   */
  private owe(missing: Map<number, Bitmap> | undefined, upTo: number, held: HeldRows[] | undefined): void {
    if (!missing) return;
    for (const [p, bits] of missing) {
      const table = this.tables[p]!;
      const uncovered = new Bitmap(table.count);
      for (let i = bits.nextSet(0); i !== -1; i = bits.nextSet(i + 1)) {
        // Chunks already owed or still in flight to the device will reach it without help.
        if (table.isZero(i) || this.lastSent[p]![i]! > upTo || this.owed[p]!.has(i)) continue;
        uncovered.add(i);
      }
      const direct = this.repairs && held ? this.repairs.owe(p, uncovered, upTo, held) : uncovered;
      for (let i = direct.nextSet(0); i !== -1; i = direct.nextSet(i + 1)) {
        if (this.owed[p]!.add(i) && this.lastSent[p]![i]! > 0) this.stats.resent++;
      }
    }
  }

  /** Next owed chunk at or after the cursor, wrapping around once. */
  private nextOwed(): { p: number; i: number } | undefined {
    const n = this.owed.length;
    for (let k = 0; k <= n; k++) {
      const p = (this.cursor.p + k) % n;
      const from = k === 0 ? this.cursor.i : 0;
      const i = this.owed[p]!.nextSet(from); // k === n: the cursor's payload again, from 0
      if (i !== -1) return { p, i };
    }
    return undefined;
  }

  private async pump(): Promise<void> {
    const coalesceMs = this.o.coalesceMs ?? 20;
    const maxUnacked = this.o.maxUnacked ?? 64;
    let idle = true;
    while (!this.stopped) {
      const next = this.repairs?.hasWork() ? 'repair' : this.nextOwed();
      if (!next || !this.client.connected || this.unacked >= maxUnacked) {
        idle = idle || !next;
        // The pass is over: a sync frame carries the last seq, so a device that lost the last
        // frames notices now instead of after its idle time.
        if (!next && this.sentSinceSync && this.client.connected) this.sendSync();
        await this.wake.wait();
        continue;
      }
      if (idle) {
        idle = false;
        await this.wake.sleep(coalesceMs); // let requests that arrive together share this pass
        continue;
      }
      if (next === 'repair') {
        await this.sendRepair();
        continue;
      }
      const table = this.tables[next.p]!;
      const length = table.length(next.i);
      const gate = this.window.check(length, Date.now());
      if (!gate.open) {
        await this.wake.wait(gate.retryAt! - Date.now());
        continue;
      }
      this.owed[next.p]!.delete(next.i);
      this.cursor = { p: next.p, i: next.i + 1 };
      await this.send(next.p, next.i, length);
    }
  }

  /** Reads chunk `i` of payload `p` from the bundle and checks it against the chunk table. */
  private async readChunk(p: number, i: number): Promise<{ data: Uint8Array; crc: number }> {
    const name = this.o.manifest.payloads[p]!.name;
    const table = this.tables[p]!;
    const length = table.length(i);
    let data: Uint8Array;
    try {
      data = await this.o.openPayload(name, table.offset(i), length);
    } catch (cause) {
      throw cause instanceof SlotflipError ? cause : new IoError(`reading chunk ${i} of payload ${name}`, { cause });
    }
    if (data.length !== length) throw new FrameError(`payload ${name}: read ${data.length} bytes of chunk ${i}, expected ${length}`);
    const crc = crc32(data);
    if (crc !== table.crc(i)) throw new CrcError(`payload ${name}: chunk ${i} does not match the manifest's CRC-32; the bundle is damaged`);
    return { data, crc };
  }

  private async send(p: number, i: number, length: number): Promise<void> {
    const { data, crc } = await this.readChunk(p, i);
    if (this.stopped) return;
    const seq = ++this.seq;
    const frame = encodeFrame({ releaseId: this.ridBytes, epoch: this.epoch, seq, payload: p, chunk: i, data, crc });
    this.lastSent[p]![i] = seq;
    this.stats.bytesSent += length;
    this.publishFrame(seq, frame);
  }

  /** Sends the next repair frame, encoding a batch of rows when none is ready. */
  private async sendRepair(): Promise<void> {
    const repairs = this.repairs!;
    const ready = repairs.peek() ?? (await repairs.encodeNext((p, i) => (this.tables[p]!.isZero(i) ? Promise.resolve(undefined) : this.readChunk(p, i).then((c) => c.data))));
    if (!ready || this.stopped) return;
    const gate = this.window.check(ready.data.length + FRAME_HEADER_BYTES, Date.now());
    if (!gate.open) {
      await this.wake.wait(gate.retryAt! - Date.now());
      return;
    }
    repairs.take();
    const seq = ++this.seq;
    const frame = encodeFrame({ releaseId: this.ridBytes, epoch: this.epoch, seq, payload: ready.payload, chunk: ready.gen.start, repair: { size: ready.gen.size, row: ready.row }, data: ready.data });
    repairs.sent(ready, seq);
    this.stats.repairSent++;
    this.stats.bytesSent += ready.data.length;
    this.publishFrame(seq, frame);
  }

  private publishFrame(seq: number, frame: Buffer): void {
    this.window.log.record(seq, frame.length);
    this.sentSinceSync = true;
    this.unacked++;
    this.stats.framesSent++;
    this.client.publish(this.topics.chunks, frame, { qos: 1 }, (err) => {
      this.unacked--;
      if (err && !this.stopped) this.warn(err); // the device reports the chunk missing and it is sent again
      this.wake.poke();
    });
  }
}

/** Starts serving a release; stop it with close(). */
export async function serveRelease(client: MqttClient, o: ServeOptions): Promise<ReleaseServer> {
  const server = new ReleaseServer(client, o);
  await server.start();
  return server;
}
