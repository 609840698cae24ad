// A rogue MQTT client for the fault runs: while a real release is served it injects frames into
// the release's chunks topic (bad CRCs, other releases, truncated, oversize, wrong data with a
// correct frame CRC, and wrong data forged to match the manifest's chunk CRC too), garbage on
// the requests topic, and forged retained manifests and announcements.

import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { ChunkTable, parseManifest } from '../../src/bundle/manifest.js';
import { crc32 } from '../../src/transfer/crc.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/transfer/envelope.js';
import { decodeFrame, encodeFrame, FLAG_SYNC, FRAME_HEADER_BYTES, releaseIdBytes } from '../../src/transfer/frame.js';
import { encodeAnnouncement } from '../../src/transfer/messages.js';
import { announceTopic, releaseTopics, type ReleaseTopics } from '../../src/transfer/topics.js';
import { seededRandom } from './proxy.js';

export type RogueKind = 'bad-crc' | 'other-release' | 'truncated' | 'oversize' | 'wrong-data' | 'forged-crc' | 'garbage-request' | 'phantom-join' | 'foreign-epoch';

/** Data faults the transfer must shrug off (counted, asked for again): no kind here can end a run. */
export const HARMLESS_KINDS: RogueKind[] = ['bad-crc', 'other-release', 'truncated', 'oversize', 'wrong-data', 'garbage-request'];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
/** Index of the table entry with a given top byte (unique for CRC-32), for running it backwards. */
const TOP_INDEX = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) t[CRC_TABLE[i]! >>> 24] = i;
  return t;
})();

/**
 * Rewrites the last 4 bytes of `data` so that its CRC-32 is `target`. CRC-32 is linear: the
 * register before the last 4 bytes is known, the register wanted after them is known, and 4
 * bytes fully replace the register's contents. This is why a CRC protects against noise, not
 * against an attacker: only the signed SHA-256 does.
 */
export function forceCrc(data: Buffer, target: number): void {
  if (data.length < 4) throw new Error('forceCrc needs at least 4 bytes');
  const before = (crc32(data.subarray(0, data.length - 4)) ^ 0xffffffff) >>> 0;
  // Walk back 4 steps from the wanted register, as if the last 4 bytes were zeros.
  let reg = (target ^ 0xffffffff) >>> 0;
  for (let k = 0; k < 4; k++) {
    const i = TOP_INDEX[reg >>> 24]!;
    reg = ((((reg ^ CRC_TABLE[i]!) >>> 0) << 8) | i) >>> 0;
  }
  data.writeUInt32LE((before ^ reg) >>> 0, data.length - 4);
}

export interface RogueStats {
  sent: Record<RogueKind, number>;
  /** Real frames seen on the chunks topic (what the rogue learns epoch and position from). */
  sniffed: number;
  retained: number;
}

export interface RogueOptions {
  url: string;
  prefix?: string;
  board: string;
  releaseId: string;
  seed: number;
  kinds: RogueKind[];
  /** Injections per second (each a single MQTT message). */
  ratePerSecond: number;
  /** Stop injecting after this long (bounded runs). */
  durationMs: number;
  /**
   * React to each real device's join (it is now listening on the chunks topic) with frames of
   * this kind for its first `chunks` chunks at once: the publisher waits its coalescing delay
   * before it answers, so these arrive first (a race the rogue wins by design, not by luck).
   */
  burstOnJoin?: { kind: RogueKind; chunks: number };
}

export class RoguePublisher {
  readonly stats: RogueStats;
  private readonly rand: () => number;
  private readonly topics: ReleaseTopics;
  private table: ChunkTable | undefined;
  private epoch = 0;
  private seq = 0;
  private lastChunk = 0;
  private lastReal: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly deadline: number;
  private sawFrame!: () => void;
  /** Resolves at the first real frame seen: the devices are past their manifest fetch. */
  readonly firstFrame = new Promise<void>((resolve) => (this.sawFrame = resolve));
  /** CRC-32s of what we injected lately: our own frames come back on the subscription. */
  private readonly mine = new Set<number>();

  private constructor(
    readonly client: MqttClient,
    private readonly o: RogueOptions,
  ) {
    this.rand = seededRandom(o.seed ^ 0x5eed);
    this.topics = releaseTopics(o.prefix, o.board, o.releaseId);
    this.stats = { sent: Object.fromEntries(o.kinds.map((k) => [k, 0])) as Record<RogueKind, number>, sniffed: 0, retained: 0 };
    this.deadline = Date.now() + o.durationMs;
  }

  /** Connects, learns the chunk table from the retained manifest and the stream position from the real frames, and starts injecting. */
  static async start(o: RogueOptions): Promise<RoguePublisher> {
    const client = await mqtt.connectAsync(o.url, { clientId: `sf-rogue-${o.seed}-${randomBytes(4).toString('hex')}`, reconnectPeriod: 200 });
    const r = new RoguePublisher(client, o);
    client.on('message', (topic, payload) => r.onMessage(topic, payload));
    await client.subscribeAsync([r.topics.manifest, r.topics.chunks, ...(o.burstOnJoin ? [r.topics.requests] : [])], { qos: 0 });
    const period = Math.max(1, Math.round(1000 / o.ratePerSecond));
    r.timer = setInterval(() => {
      if (Date.now() > r.deadline) return r.stopInjecting();
      r.injectOne();
    }, period);
    return r;
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.manifest && payload.length > 0 && !this.table) {
      try {
        this.table = new ChunkTable(parseManifest(decodeEnvelope(payload).manifestBytes).payloads[0]!);
      } catch {
        // Not the real manifest (perhaps our own forgery): keep waiting for one that parses.
      }
    } else if (topic === this.topics.requests && this.o.burstOnJoin && this.table) {
      if (this.mine.has(crc32(payload))) return;
      let m: { kind?: unknown } | undefined;
      try {
        m = JSON.parse(payload.toString('utf8')) as { kind?: unknown };
      } catch {
        return; // garbage (perhaps our own)
      }
      if (m?.kind === 'join') this.burst(this.o.burstOnJoin);
    } else if (topic === this.topics.chunks && this.table) {
      try {
        const f = decodeFrame(payload, this.table.chunkSize);
        // The publisher's sync frame names its epoch before any data frame.
        if (f.flags & FLAG_SYNC && !this.mine.has(crc32(payload))) this.epoch = f.epoch;
        // Our own injections come back too: skip them, and anything failing the table's CRC.
        if (!this.mine.has(crc32(payload)) && f.data.length && crc32(f.data) === f.crc && f.crc === this.table.crc(f.chunk)) {
          this.stats.sniffed++;
          this.sawFrame();
          this.epoch = f.epoch;
          this.seq = Math.max(this.seq, f.seq);
          this.lastChunk = f.chunk;
          this.lastReal = Buffer.from(payload);
        }
      } catch {
        // A rogue frame (ours): ignore.
      }
    }
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  /** A chunk just ahead of the publisher's cursor: a forgery there arrives before the real one. */
  private aheadChunk(): number | undefined {
    const t = this.table!;
    for (let tries = 0; tries < 8; tries++) {
      const c = (this.lastChunk + 1 + Math.floor(this.rand() * 24)) % t.count;
      if (!t.isZero(c)) return c;
    }
    return undefined;
  }

  private frame(chunk: number, data: Buffer, crc?: number, rid = releaseIdBytes(this.o.releaseId)): Buffer {
    return encodeFrame({ releaseId: rid, epoch: this.epoch, seq: this.seq + 1, payload: 0, chunk, data, ...(crc !== undefined ? { crc } : {}) });
  }

  private injectOne(): void {
    if (!this.table || !this.lastReal) return; // nothing to imitate yet
    const kind = this.pick(this.o.kinds);
    const msg = this.build(kind);
    if (!msg) return;
    this.stats.sent[kind]++;
    if (this.mine.size > 4096) this.mine.clear();
    this.mine.add(crc32(msg.payload));
    this.client.publish(msg.topic, msg.payload, { qos: 0 });
  }

  private burst(b: { kind: RogueKind; chunks: number }): void {
    const t = this.table!;
    if (!this.epoch) this.epoch = 1 + Math.floor(this.rand() * (2 ** 32 - 1)); // a device takes any epoch for a restarted publisher
    for (let c = 0; c < Math.min(t.count, b.chunks); c++) {
      if (t.isZero(c)) continue;
      const msg = this.build(b.kind, c);
      if (!msg) continue;
      this.stats.sent[b.kind] = (this.stats.sent[b.kind] ?? 0) + 1;
      this.mine.add(crc32(msg.payload));
      this.client.publish(msg.topic, msg.payload, { qos: 0 });
    }
  }

  private build(kind: RogueKind, chunk?: number): { topic: string; payload: Buffer } | undefined {
    const t = this.table!;
    const chunks = this.topics.chunks;
    const c = chunk ?? this.aheadChunk();
    if (c === undefined) return undefined;
    const len = t.length(c);
    switch (kind) {
      case 'bad-crc': {
        // A real frame with one bit of its data flipped: the frame's CRC no longer holds.
        if (!this.lastReal) return undefined;
        const f = Buffer.from(this.lastReal);
        const at = FRAME_HEADER_BYTES + Math.floor(this.rand() * (f.length - FRAME_HEADER_BYTES));
        f[at] = f[at]! ^ (1 << Math.floor(this.rand() * 8));
        return { topic: chunks, payload: f };
      }
      case 'other-release':
        return { topic: chunks, payload: this.frame(c, randomBytes(len), undefined, randomBytes(8)) };
      case 'truncated': {
        const f = this.frame(c, randomBytes(len));
        return { topic: chunks, payload: f.subarray(0, Math.floor(this.rand() * (f.length - 1))) };
      }
      case 'oversize': {
        const f = this.frame(c, randomBytes(len + 1 + Math.floor(this.rand() * 1024)));
        return { topic: chunks, payload: f };
      }
      case 'wrong-data':
        // Frame CRC computed over the wrong data: only the manifest's chunk table catches it.
        return { topic: chunks, payload: this.frame(c, randomBytes(len)) };
      case 'forged-crc': {
        // Wrong data that matches the frame's and the manifest's CRC: only the digest catches it.
        const data = randomBytes(len);
        forceCrc(data, t.crc(c));
        return { topic: chunks, payload: this.frame(c, data) };
      }
      case 'foreign-epoch':
        // A well-formed frame of a publisher run that does not exist: devices take it for a
        // restarted publisher and join again (costs re-sends, never correctness).
        return { topic: chunks, payload: encodeFrame({ releaseId: releaseIdBytes(this.o.releaseId), epoch: Math.floor(this.rand() * 2 ** 32), seq: 1, payload: 0, chunk: c, data: randomBytes(len) }) };
      case 'garbage-request':
        return { topic: this.topics.requests, payload: this.garbageRequest() };
      case 'phantom-join': {
        // A well-formed join of a device that does not exist: it asks for everything.
        const msg = { v: 1, kind: 'join', device: `phantom-${Math.floor(this.rand() * 1000)}`, epoch: this.epoch, seq: 0, have: 0, total: t.count, bytes: 0, totalBytes: t.size, missing: [{ p: 0, ranges: [[0, t.count]] }] };
        return { topic: this.topics.requests, payload: Buffer.from(JSON.stringify(msg)) };
      }
    }
  }

  private garbageRequest(): Buffer {
    const t = this.table!;
    const variants = [
      () => randomBytes(1 + Math.floor(this.rand() * 512)),
      () => Buffer.from('{"v":1,"kind":"request","device":"x"'),
      () => Buffer.from(JSON.stringify({ v: 99, kind: 'join', device: 'rogue' })),
      () => Buffer.from(JSON.stringify({ v: 1, kind: 'explode', device: 'rogue', epoch: 1, seq: 1 })),
      () => Buffer.from(JSON.stringify({ v: 1, kind: 'request', device: '../../x', epoch: this.epoch, seq: this.seq, have: -1, total: 1e12, bytes: 0, totalBytes: 0, missing: [{ p: 7, ranges: [[0, 1e9]] }] })),
      () => Buffer.from(JSON.stringify({ v: 1, kind: 'request', device: 'rogue', epoch: this.epoch, seq: this.seq, have: 0, total: t.count, bytes: 0, totalBytes: 0, missing: [{ p: 0, ranges: [[5, 2], [t.count, t.count + 10]] }] })),
      () => Buffer.from(JSON.stringify({ v: 1, kind: 'ack', device: 'rogue', epoch: this.epoch, seq: 2 ** 40, have: 0, total: 0, bytes: 0, totalBytes: 0 })),
    ];
    return this.pick(variants)();
  }

  /** Publishes a forged release: its retained manifest envelope and a retained board announcement pointing at it. */
  async forgeRelease(o: { manifestBytes: Buffer; sigBytes: Buffer; releaseId: string; version: string }): Promise<string[]> {
    const t = releaseTopics(this.o.prefix, this.o.board, o.releaseId);
    const announce = announceTopic(this.o.prefix, { board: this.o.board });
    await this.client.publishAsync(t.manifest, encodeEnvelope(o.manifestBytes, o.sigBytes), { qos: 1, retain: true });
    await this.client.publishAsync(announce, encodeAnnouncement({ releaseId: o.releaseId, board: this.o.board, topic: t.base, version: o.version, published: new Date().toISOString() }), { qos: 1, retain: true });
    this.stats.retained += 2;
    return [t.manifest, announce];
  }

  /** Overwrites the real release's retained manifest with another envelope (what a device re-reads on reconnect). */
  async overwriteManifest(payload: Buffer): Promise<void> {
    await this.client.publishAsync(this.topics.manifest, payload, { qos: 1, retain: true });
    this.stats.retained++;
  }

  stopInjecting(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops, and removes what it left retained on `topics`. */
  async close(retained: string[] = []): Promise<void> {
    this.stopInjecting();
    for (const topic of retained) await this.client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
    await this.client.endAsync();
  }
}
