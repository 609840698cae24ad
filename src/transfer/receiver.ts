// The device side of a release transfer: fetch the retained manifest and let the agent accept
// it, then take chunk frames off the shared stream, check each against its frame and the
// manifest's CRC-32, write it to the sink, and tell the publisher what it has and lacks.

import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { ChunkTable, releaseId as computeReleaseId, type Manifest } from '../bundle/manifest.js';
import { ConfigError, errorMessage, IoError, SlotflipError } from '../errors.js';
import { realFs, type FileSystem } from '../platform/fs.js';
import { decodeEnvelope } from './envelope.js';
import { FrameError, TransferAbortedError, TransferTimeoutError } from './errors.js';
import { ChunkLedger, type ChunkSink, type WantedPayload } from './ledger.js';
import { messageRouter, setNoDelay, subscribeSurely } from './mqtt.js';
import { releaseTopics, releaseTopicsFromBase, type ReleaseTopics } from './topics.js';
import { FrameIntake, type ReceiverStats } from './intake.js';

export type { ChunkSink } from './ledger.js';
export type { ReceiverStats } from './intake.js';

export interface ReceiveOptions {
  /** Where the release lives: its base topic from an announcement, or prefix + board. */
  topic?: string;
  prefix?: string;
  board?: string;
  releaseId: string;
  deviceId: string;
  /** Checks signature and policy; returns the manifest or throws a SlotflipError to refuse. */
  acceptManifest(manifestBytes: Buffer, sigBytes: Buffer): Promise<Manifest>;
  /** The sink, or a function that opens one once the manifest is accepted. */
  sink: ChunkSink | ((manifest: Manifest) => Promise<ChunkSink>);
  dataDir: string;
  fs?: FileSystem;
  /**
   * Called as the durable prefix of a payload grows (bytes from its start with no chunk
   * missing, synced): a read-back may verify that much while the rest arrives.
   */
  onDurablePrefix?(payload: string, bytes: number): void;
  /** Payload names to fetch (default: all). */
  payloads?: string[];
  /** Sync the sink and persist the bitmap after this many chunks or bytes (default 64, 16 MiB). */
  syncEveryChunks?: number;
  syncEveryBytes?: number;
  /** Chunk writes handed to the sink before the next frame is taken (default 4). */
  writesInFlight?: number;
  /** Acknowledge after this many frames or bytes handled (default 16, 4 MiB), or after ackDelayMs. */
  ackEveryFrames?: number;
  ackEveryBytes?: number;
  ackDelayMs?: number;
  /**
   * Memory for repair rows waiting to be decoded (default 16 MiB); 0 turns repair frames off
   * (so does a sink without read()).
   */
  repairMemory?: number;
  /** Nothing arrived for this long while chunks are missing: ask again (default 3 s). */
  idleMs?: number;
  /** No manifest, or no new chunk written, for this long: give up with SF_ERR_TRANSFER_TIMEOUT (default 5 min). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ReceiveProgress {
  have: number;
  total: number;
  bytes: number;
  totalBytes: number;
}

export interface ReceiveResult {
  releaseId: string;
  manifest: Manifest;
  stats: ReceiverStats;
}

export interface ReceiverEvents {
  manifest: [manifest: Manifest];
  /** Listening on the chunks topic (the join follows). */
  subscribed: [];
  progress: [p: ReceiveProgress];
  warning: [err: Error];
}

export class ReleaseReceiver extends EventEmitter<ReceiverEvents> {
  readonly topics: ReleaseTopics;
  private intake: FrameIntake | undefined;
  private readonly cleanups: (() => void)[] = [];
  private finish!: { resolve: () => void; reject: (err: unknown) => void };
  private readonly finished = new Promise<void>((resolve, reject) => (this.finish = { resolve, reject }));
  private failed: unknown;
  private lastProgressAt = Date.now();

  constructor(
    private readonly client: MqttClient,
    private readonly o: ReceiveOptions,
  ) {
    super();
    if (o.topic === undefined && o.board === undefined) throw new ConfigError('a release receiver needs the release topic or the board');
    this.topics = o.topic !== undefined ? releaseTopicsFromBase(o.topic) : releaseTopics(o.prefix, o.board!, o.releaseId);
    this.finished.catch(() => undefined);
  }

  /** Stops the transfer; run() rejects with SF_ERR_TRANSFER_ABORTED after writing what it has. */
  stop(reason = 'transfer stopped'): void {
    this.fail(new TransferAbortedError(reason));
  }

  private fail(err: unknown): void {
    if (this.failed === undefined) this.failed = err;
    this.finish.reject(err);
  }

  async run(): Promise<ReceiveResult> {
    const { o } = this;
    if (o.signal?.aborted) throw new TransferAbortedError('transfer aborted before it started');
    const onAbort = (): void => this.stop('transfer aborted');
    o.signal?.addEventListener('abort', onAbort);
    this.cleanups.push(() => o.signal?.removeEventListener('abort', onAbort), setNoDelay(this.client));
    const timeoutMs = o.timeoutMs ?? 300_000;
    const watchdog = setInterval(() => this.watch(timeoutMs), Math.min(250, (o.idleMs ?? 3000) / 4));
    this.cleanups.push(() => clearInterval(watchdog));
    try {
      const manifest = await this.fetchManifest();
      this.emit('manifest', manifest);
      const sink = typeof o.sink === 'function' ? await o.sink(manifest) : o.sink;
      const intake = await this.prepare(manifest, sink);
      if (!intake.ledger.complete) {
        await subscribeSurely(this.client, this.topics.chunks, { qos: 1 }, () => this.failed !== undefined);
        this.cleanups.push(() => this.client.connected && void this.client.unsubscribe(this.topics.chunks));
        this.emit('subscribed');
        await intake.serial(() => intake.join());
        await this.finished;
      }
      await intake.serial(() => intake.ledger.flush());
      await intake.serial(() => intake.sendDone());
      return { releaseId: o.releaseId, manifest, stats: { ...intake.stats } };
    } catch (err) {
      // Keep what is written: a stopped or timed-out transfer resumes from here next time.
      const intake = this.intake;
      if (intake && !(this.failed instanceof SinkFailure) && !(err instanceof SinkFailure)) {
        // The documented fallback: report a failed final sync and throw the error that ended
        // the transfer; the chunks written since the last good sync are simply fetched again.
        await intake.serial(() => intake.ledger.flush()).catch((e: unknown) => this.emit('warning', asError(e instanceof SinkFailure ? e.inner : e)));
      }
      throw err instanceof SinkFailure ? err.inner : err;
    } finally {
      this.intake?.close();
      for (const c of this.cleanups.splice(0).reverse()) c();
    }
  }

  /** Waits for the retained manifest envelope, checks it names this release, hands it to the agent. */
  private async fetchManifest(): Promise<Manifest> {
    let got!: (v: { manifestBytes: Buffer; sigBytes: Buffer }) => void;
    const envelope = new Promise<{ manifestBytes: Buffer; sigBytes: Buffer }>((resolve) => (got = resolve));
    const unroute = messageRouter(this.client).route(
      this.topics.manifest,
      (payload) => {
        if (payload.length === 0) return; // withdrawn; wait for a new one or time out
        const env = decodeEnvelope(payload);
        const id = computeReleaseId(env.manifestBytes);
        if (id !== this.o.releaseId) throw new FrameError(`manifest on ${this.topics.manifest} is of release ${id}`, { details: { releaseId: id } });
        got(env);
      },
      (err) => this.fail(err),
    );
    this.cleanups.push(unroute);
    await subscribeSurely(this.client, this.topics.manifest, { qos: 1 }, () => this.failed !== undefined);
    this.cleanups.push(() => this.client.connected && void this.client.unsubscribe(this.topics.manifest));
    const env = await Promise.race([envelope, this.finished.then(() => undefined)]);
    if (!env) throw new TransferAbortedError('transfer ended before the manifest arrived');
    const manifest = await this.o.acceptManifest(env.manifestBytes, env.sigBytes);
    this.lastProgressAt = Date.now();
    return manifest;
  }

  private async prepare(manifest: Manifest, sink: ChunkSink): Promise<FrameIntake> {
    const { o } = this;
    const wanted: WantedPayload[] = [];
    manifest.payloads.forEach((p, index) => {
      if (!o.payloads || o.payloads.includes(p.name)) wanted.push({ index, name: p.name, table: new ChunkTable(p) });
    });
    for (const name of o.payloads ?? []) {
      if (!wanted.some((w) => w.name === name)) throw new FrameError(`release ${o.releaseId} has no payload ${name}`);
    }
    const guarded = guardSink(sink);
    const ledger = new ChunkLedger(o.fs ?? realFs, o.dataDir, o.releaseId, wanted, guarded, {
      chunks: o.syncEveryChunks ?? 64,
      bytes: o.syncEveryBytes ?? 16 * 1024 * 1024,
      writesInFlight: o.writesInFlight ?? 4,
    });
    await ledger.load((reason) => this.emit('warning', new FrameError(`ignoring the stored chunk bitmap: ${reason}`)));
    this.reportPrefixes(ledger); // a resumed transfer: what an earlier run made durable
    const maxChunk = Math.max(...manifest.payloads.map((p) => p.chunkSize));
    const intake = new FrameIntake(this.client, {
      releaseId: o.releaseId,
      deviceId: o.deviceId,
      topics: this.topics,
      ledger,
      maxChunk,
      ackEveryFrames: o.ackEveryFrames ?? 16,
      ackEveryBytes: o.ackEveryBytes ?? 4 * 1024 * 1024,
      ackDelayMs: o.ackDelayMs ?? 50,
      idleMs: o.idleMs ?? 3000,
      repairMemory: ledger.canRead ? (o.repairMemory ?? 16 * 1024 * 1024) : 0,
      onWarning: (err) => this.emit('warning', err),
      onProgress: () => {
        this.lastProgressAt = Date.now(); // also while all-zero chunks are written, before any frame
        this.emit('progress', ledger.progress());
        this.reportPrefixes(ledger);
      },
      onChunk: () => (this.lastProgressAt = Date.now()),
      onComplete: () => this.finish.resolve(),
      onError: (err) => this.fail(err),
    });
    this.intake = intake;
    await intake.serial(async () => {
      intake.stats.zeroChunks = await ledger.writeZeros();
      await ledger.flush();
    });
    this.emit('progress', ledger.progress());
    this.cleanups.push(messageRouter(this.client).route(this.topics.chunks, (payload) => intake.onFrame(payload), (err) => this.fail(err)));
    const onReconnect = (): void => void intake.serial(() => intake.join()).catch((err: unknown) => this.fail(err));
    this.client.on('connect', onReconnect);
    this.cleanups.push(() => this.client.off('connect', onReconnect));
    return intake;
  }

  private reportPrefixes(ledger: ChunkLedger): void {
    if (!this.o.onDurablePrefix) return;
    for (const p of ledger.payloads) this.o.onDurablePrefix(p.name, ledger.durablePrefix(p));
  }

  private watch(timeoutMs: number): void {
    const now = Date.now();
    if (now - this.lastProgressAt > timeoutMs) {
      const what = this.intake ? 'no new chunk arrived' : 'the manifest did not arrive';
      this.fail(new TransferTimeoutError(`${what} within ${Math.round(timeoutMs / 1000)} s on ${this.topics.base}`));
      return;
    }
    this.intake?.tick(now);
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(errorMessage(e));
}

/** Marks failures of the agent's sink so the receiver does not write to it again while stopping. */
class SinkFailure extends Error {
  constructor(readonly inner: unknown) {
    super(errorMessage(inner));
  }
}

function guardSink(sink: ChunkSink): ChunkSink {
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new SinkFailure(err instanceof SlotflipError ? err : new IoError(what, { cause: err }));
    }
  };
  return {
    write: (p, i, d) => wrap(`writing chunk ${i} of ${p}`, () => sink.write(p, i, d)),
    writeZero: (p, i, n) => wrap(`writing zero chunk ${i} of ${p}`, () => sink.writeZero(p, i, n)),
    sync: () => wrap('syncing received chunks', () => sink.sync()),
    ...(sink.read ? { read: (p: string, i: number, n: number) => wrap(`reading back chunk ${i} of ${p}`, () => sink.read!(p, i, n)) } : {}),
  };
}

/** Fetches one release into `sink`; resolves once every wanted chunk is durable. */
export function receiveRelease(client: MqttClient, o: ReceiveOptions, onProgress?: (p: ReceiveProgress) => void): Promise<ReceiveResult> {
  const r = new ReleaseReceiver(client, o);
  if (onProgress) r.on('progress', onProgress);
  return r.run();
}
