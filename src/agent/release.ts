// Taking a release: an announcement names it, the retained manifest is fetched and verified
// (signature, then board/version policy) before a single chunk is asked for, the chunks are
// written into the inactive slot, and the install is finished (read-back, one env write) and
// followed by a reboot. The manifest is kept in DATA/release/ so a restart resumes.

import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import { SlotflipError, errorCode, errorMessage } from '../errors.js';
import { readFileIfExists, writeFileAtomic } from '../platform/fs.js';
import { releaseId as computeReleaseId, type Manifest } from '../bundle/manifest.js';
import { verifyManifest } from '../bundle/verify.js';
import type { TrustedKey } from '../crypto/index.js';
import { decodeAnnouncement, announcementTargets, type Announcement } from '../transfer/messages.js';
import { decodeEnvelope } from '../transfer/envelope.js';
import { messageRouter } from '../transfer/mqtt.js';
import { removeTransferState } from '../transfer/bitmap-store.js';
import { releaseTopicsFromBase } from '../transfer/topics.js';
import { finishInstall, prepareInstall, type PreparedInstall } from '../install/firmware.js';
import { SlotReadback } from '../slots/readback.js';
import { inlineSha256 } from '../slots/digest.js';
import type { Device } from '../install/device.js';
import type { Journal } from './journal.js';
import type { AgentEvent } from './states.js';
import type { AgentLink } from './link.js';
import { downloadPayloads } from './download.js';
import { applyAppRelease, appPayloadFile, checkAppPolicy, isAppRelease } from './app-update.js';
import type { AppSlots } from './worker/app-slots.js';
import type { WorkerHost } from './ports.js';
import { SlotWriter } from '../slots/writer.js';
import { verifySlot } from '../slots/readback.js';
import { readDevice } from '../install/device.js';

export interface Progress {
  received: number;
  total: number;
  bytes: number;
}

export interface ReleaseDeps {
  dev: Device;
  keys(): TrustedKey[];
  journal(): Journal;
  serial<T>(fn: () => Promise<T>): Promise<T>;
  go(event: AgentEvent, patch?: Partial<Journal>): Promise<void>;
  /** Records something in the journal and the status report without a state change. */
  note(patch: Partial<Journal>): Promise<void>;
  reject(releaseId: string): Promise<void>;
  setProgress(p: Progress | null): void;
  appSlots: AppSlots;
  worker(): WorkerHost | undefined;
  beforeReboot(): Promise<void>;
  reboot(): Promise<void>;
  log(line: string): void;
}

interface SavedRelease {
  releaseId: string;
  topic: string;
}

const MANIFEST_WAIT_MS = 30_000;
const TRANSIENT = new Set(['SF_ERR_TRANSFER_TIMEOUT', 'SF_ERR_TRANSFER_ABORTED', 'SF_ERR_BROKER', 'SF_ERR_IO', 'SF_ERR_INTERNAL', 'SF_ERR_AGENT_STOPPED']);

export class ReleaseError extends SlotflipError {}

export class ReleaseHandler {
  private link: AgentLink | undefined;
  private current: { releaseId: string; abort: AbortController; done: Promise<void> } | undefined;
  private pending: Announcement | undefined;
  private readonly dir: string;

  constructor(private readonly d: ReleaseDeps) {
    this.dir = path.join(d.dev.config.dataDir, 'release');
  }

  attach(link: AgentLink): void {
    this.link = link;
  }

  announced(payload: Buffer, link: AgentLink): void {
    let a: Announcement | undefined;
    try {
      a = decodeAnnouncement(payload);
    } catch (err) {
      this.d.log(`ignoring announcement: ${errorMessage(err)}`);
      return;
    }
    if (!a || !announcementTargets(a, { deviceId: this.d.dev.config.deviceId, board: this.d.dev.config.board.name })) return;
    this.link = link;
    void this.d.serial(() => this.consider(a));
  }

  /** Called when the agent is idle again: a release announced meanwhile gets its turn. */
  idle(): void {
    const a = this.pending;
    this.pending = undefined;
    if (a) void this.d.serial(() => this.consider(a));
  }

  private async consider(a: Announcement): Promise<void> {
    const j = this.d.journal();
    if (this.current?.releaseId === a.releaseId) return;
    if (j.state !== 'idle') {
      this.pending = a;
      return;
    }
    if (j.rejected.includes(a.releaseId)) return;
    const view = await this.d.dev.state.load();
    if (view.slots.a?.releaseId === a.releaseId && view.committed === 'a') return;
    if (view.slots.b?.releaseId === a.releaseId && view.committed === 'b') return;
    let manifest: Manifest;
    let bytes: { manifestBytes: Buffer; sigBytes: Buffer };
    try {
      bytes = await this.fetchManifest(a.topic);
      if (computeReleaseId(bytes.manifestBytes) !== a.releaseId) {
        throw new ReleaseError('SF_ERR_MANIFEST', `manifest on ${a.topic} does not match release ${a.releaseId}`);
      }
      manifest = verifyManifest(bytes.manifestBytes, bytes.sigBytes, { trustedKeys: this.d.keys(), revokedKeys: this.d.dev.config.revokedKeys }).manifest;
    } catch (err) {
      await this.refuse(a.releaseId, err);
      return;
    }
    await this.save({ releaseId: a.releaseId, topic: a.topic }, bytes.manifestBytes, bytes.sigBytes);
    // A fresh start, not a resume: a bitmap left by an earlier attempt at this release may
    // describe a slot that has been rewritten since (found by the power-cut sweep).
    await removeTransferState(this.d.dev.fs, this.d.dev.config.dataDir, a.releaseId);
    this.start({ releaseId: a.releaseId, topic: a.topic }, manifest);
  }

  /** After a restart in `download` or `install`: continue from the saved manifest. */
  resume(): void {
    void (async () => {
      const saved = await this.load();
      if (!saved) {
        await this.d.serial(() => this.d.go('failed', { lastError: { code: 'SF_ERR_JOURNAL', message: 'download state without a saved manifest', at: new Date().toISOString() }, release: null }));
        return;
      }
      let manifest: Manifest;
      try {
        manifest = verifyManifest(saved.manifestBytes, saved.sigBytes, { trustedKeys: this.d.keys(), revokedKeys: this.d.dev.config.revokedKeys }).manifest;
      } catch (err) {
        await this.d.serial(() => this.fail(saved.meta.releaseId, err));
        return;
      }
      this.start(saved.meta, manifest);
    })();
  }

  async cancel(): Promise<void> {
    const c = this.current;
    if (!c) return;
    c.abort.abort(new ReleaseError('SF_ERR_CANCELLED', 'download cancelled by the operator'));
  }

  async abort(): Promise<void> {
    const c = this.current;
    if (!c) return;
    c.abort.abort(new ReleaseError('SF_ERR_AGENT_STOPPED', 'agent stopping'));
    await c.done.catch(() => undefined);
  }

  private start(meta: SavedRelease, manifest: Manifest): void {
    const abort = new AbortController();
    const done = this.run(meta, manifest, abort.signal).catch((err: unknown) => this.d.serial(() => this.fail(meta.releaseId, err)));
    this.current = { releaseId: meta.releaseId, abort, done: done.then(() => undefined) };
  }

  private async run(meta: SavedRelease, manifest: Manifest, signal: AbortSignal): Promise<void> {
    if (isAppRelease(manifest)) return this.runApp(meta, manifest, signal);
    let prep: PreparedInstall | undefined;
    let readback: SlotReadback | undefined;
    try {
      prep = await this.d.serial(async () => {
        const p = await prepareInstall(this.d.dev, manifest);
        await this.d.go('release', { release: { id: meta.releaseId, version: manifest.version, target: p.target, from: p.booted }, lastError: null });
        return p;
      });
      if (!this.link) throw new ReleaseError('SF_ERR_BROKER', 'no broker configured');
      // The slot is read back behind the download, as far as it is durable without a gap, so
      // only the tail is left to read once the last chunk is synced (decision D8).
      const target = prep;
      const rb = (readback = new SlotReadback(this.d.dev.fs, target.writer.device, target.payload.size, inlineSha256(this.d.dev.config.bufferSize)));
      await downloadPayloads({
        client: this.link.client as MqttClient,
        dev: this.d.dev,
        releaseId: meta.releaseId,
        manifest,
        targets: [{ payload: prep.payload, writer: prep.writer }],
        signal,
        onProgress: (p) => this.d.setProgress(p),
        onDurablePrefix: (name, bytes) => name === target.payload.name && rb.advance(bytes),
      });
      await this.d.serial(() => this.d.go('downloaded'));
      await finishInstall(this.d.dev, prep, manifest, meta.releaseId, rb);
      readback = undefined; // finished (and released) by finishInstall
      prep = undefined;
      await removeTransferState(this.d.dev.fs, this.d.dev.config.dataDir, meta.releaseId);
      this.current = undefined;
      await this.d.serial(() => this.d.go('armed'));
      await this.d.beforeReboot();
      await this.d.reboot();
    } finally {
      if (readback) await readback.abort().catch(() => undefined);
      if (prep) await prep.writer.close().catch(() => undefined);
    }
  }

  /** App and config payloads: download into the data directory, verify, apply without a reboot. */
  private async runApp(meta: SavedRelease, manifest: Manifest, signal: AbortSignal): Promise<void> {
    const dev = this.d.dev;
    const view = await readDevice(dev);
    const booted = dev.config.slots[view.slots.booted];
    let targets: { payload: Manifest['payloads'][number]; writer: SlotWriter }[] = [];
    try {
      await this.d.serial(async () => {
        await checkAppPolicy(dev, this.d.appSlots, manifest);
        await this.d.go('release', { release: { id: meta.releaseId, version: manifest.version, target: view.slots.booted, from: view.slots.booted, kind: 'app' }, lastError: null });
      });
      if (!this.link) throw new ReleaseError('SF_ERR_BROKER', 'no broker configured');
      await dev.fs.mkdir(this.dir);
      for (const payload of manifest.payloads) {
        targets.push({ payload, writer: await SlotWriter.open(dev.fs, { device: appPayloadFile(dev, payload.name), type: 'file' }, booted) });
      }
      await downloadPayloads({ client: this.link.client as MqttClient, dev, releaseId: meta.releaseId, manifest, targets, signal, onProgress: (p) => this.d.setProgress(p) });
      for (const t of targets) {
        await t.writer.close();
        await verifySlot(dev.fs, t.writer.device, t.payload.size, t.payload.sha256, dev.config.bufferSize);
      }
      targets = [];
      await this.d.serial(() => this.d.go('downloaded'));
      await applyAppRelease({ dev, slots: this.d.appSlots, worker: this.d.worker(), manifest, log: (l) => this.d.log(l) });
      await removeTransferState(dev.fs, dev.config.dataDir, meta.releaseId);
      this.current = undefined;
      const at = new Date().toISOString();
      await this.d.serial(() => this.d.go('swapped', { lastResult: { result: 'committed', releaseId: meta.releaseId, version: manifest.version, at }, lastError: null, release: null }));
    } finally {
      for (const t of targets) await t.writer.close().catch(() => undefined);
    }
  }

  private async fail(releaseId: string, err: unknown): Promise<void> {
    this.current = undefined;
    const code = errorCode(err);
    this.d.setProgress(null);
    if (code === 'SF_ERR_AGENT_STOPPED') return;
    const lastError = { code, message: errorMessage(err), at: new Date().toISOString() };
    this.d.log(`release ${releaseId} failed: ${code} ${lastError.message}`);
    const state = this.d.journal().state;
    if (code === 'SF_ERR_CANCELLED' && (state === 'download' || state === 'install')) {
      await this.d.reject(releaseId);
      await this.d.go('cancel', { lastError, release: null, lastResult: { result: 'failed', releaseId, version: null, at: lastError.at } });
      return;
    }
    // Transient trouble (transport, I/O, the unexpected) does not blacklist the release: the
    // next announcement or restart retries it. Refusals (signature, policy, digest) do.
    if (!TRANSIENT.has(code)) await this.d.reject(releaseId);
    // A new app worker that never became healthy was swapped back: the device runs the old one.
    const appRolledBack = this.d.journal().release?.kind === 'app' && code === 'SF_ERR_WORKER_UNHEALTHY';
    const lastResult = { result: appRolledBack ? ('rolled-back' as const) : ('failed' as const), releaseId, version: this.d.journal().release?.version ?? null, at: lastError.at };
    if (state === 'download' || state === 'install') await this.d.go('failed', { lastError, release: null, lastResult });
    else await this.d.note({ lastError, lastResult });
  }

  private async refuse(releaseId: string, err: unknown): Promise<void> {
    this.d.log(`release ${releaseId} refused: ${errorCode(err)} ${errorMessage(err)}`);
    await this.d.reject(releaseId);
    const lastError = { code: errorCode(err), message: errorMessage(err), at: new Date().toISOString() };
    await this.d.note({ lastError, lastResult: { result: 'failed', releaseId, version: null, at: lastError.at } });
  }

  private fetchManifest(topic: string): Promise<{ manifestBytes: Buffer; sigBytes: Buffer }> {
    const link = this.link!;
    const t = releaseTopicsFromBase(topic).manifest;
    const router = messageRouter(link.client);
    return new Promise((resolve, reject) => {
      let release = (): void => undefined;
      const timer = setTimeout(() => {
        release();
        link.client.unsubscribe(t);
        reject(new ReleaseError('SF_ERR_TRANSFER_TIMEOUT', `no manifest on ${t} within ${MANIFEST_WAIT_MS / 1000} s`));
      }, MANIFEST_WAIT_MS);
      release = router.route(
        t,
        (payload) => {
          if (payload.length === 0) return;
          clearTimeout(timer);
          release();
          link.client.unsubscribe(t);
          try {
            resolve(decodeEnvelope(payload));
          } catch (err) {
            reject(err);
          }
        },
        (err) => reject(err),
      );
      link.client.subscribe(t, { qos: 1 });
    });
  }

  private async save(meta: SavedRelease, manifestBytes: Buffer, sigBytes: Buffer): Promise<void> {
    const fs = this.d.dev.fs;
    await fs.mkdir(this.dir);
    await writeFileAtomic(fs, path.join(this.dir, 'manifest.json'), manifestBytes);
    await writeFileAtomic(fs, path.join(this.dir, 'manifest.sig'), sigBytes);
    await writeFileAtomic(fs, path.join(this.dir, 'release.json'), JSON.stringify(meta) + '\n');
  }

  private async load(): Promise<{ meta: SavedRelease; manifestBytes: Buffer; sigBytes: Buffer } | undefined> {
    const fs = this.d.dev.fs;
    const [m, s, r] = await Promise.all(['manifest.json', 'manifest.sig', 'release.json'].map((f) => readFileIfExists(fs, path.join(this.dir, f))));
    if (!m || !s || !r) return undefined;
    return { meta: JSON.parse(r.toString('utf8')) as SavedRelease, manifestBytes: m, sigBytes: s };
  }
}
