// The device agent (the watcher): on start it reads its journal and the device to learn what
// this boot means (trial, fallback, resume...), supervises the worker, takes releases and
// signed commands from MQTT, and moves through the state table, journaling every step.

import { EventEmitter } from 'node:events';
import type { DeviceConfig } from '../config/device.js';
import { realFs, type FileSystem } from '../platform/fs.js';
import { SlotflipError, errorCode, errorMessage } from '../errors.js';
import { loadTrustedKeys, type TrustedKey } from '../crypto/index.js';
import { openDevice, readDevice, type Device, type DeviceView } from '../install/device.js';
import { markGood, rollback } from '../install/commit.js';
import { classifyBoot, type BootAction } from './boot.js';
import { JournalStore, type Journal } from './journal.js';
import { next, type AgentEvent, type AgentState } from './states.js';
import { AgentLink } from './link.js';
import type { StatusReport } from './status.js';
import type { AgentPorts, WorkerHost } from './ports.js';
import { verifyCommand, type OperatorCommand } from './commands.js';
import { ReleaseHandler, type Progress } from './release.js';
import { AppSlots } from './worker/app-slots.js';

const KEEP_IDS = 64;

export class Agent extends EventEmitter {
  readonly dev: Device;
  private readonly store: JournalStore;
  readonly appSlots: AppSlots;
  private journal!: Journal;
  private view!: DeviceView;
  private keys: TrustedKey[] = [];
  private link: AgentLink | undefined;
  private worker: WorkerHost | undefined;
  private releases!: ReleaseHandler;
  private queue: Promise<unknown> = Promise.resolve();
  private progress: Progress | null = null;
  private lastProgressReport = 0;
  private stopping = false;

  constructor(
    private config: DeviceConfig,
    private readonly ports: AgentPorts,
    fs: FileSystem = realFs,
  ) {
    super();
    this.dev = openDevice(config, fs);
    this.store = new JournalStore(fs, config.dataDir);
    this.appSlots = new AppSlots({ dataDir: config.dataDir, fs });
  }

  get state(): AgentState {
    return this.journal.state;
  }

  async start(): Promise<void> {
    this.keys = await loadTrustedKeys(this.config.trustedKeys, this.config.revokedKeys, this.dev.fs);
    this.journal = await this.store.load();
    this.view = await readDevice(this.dev);
    if (this.config.worker && this.ports.worker) this.worker = this.ports.worker(this.config.worker, () => this.appSlots.currentDir());
    this.releases = new ReleaseHandler({
      dev: this.dev,
      keys: () => this.keys,
      journal: () => this.journal,
      serial: (fn) => this.serial(fn),
      go: (event, patch) => this.go(event, patch),
      note: (patch) => this.note(patch),
      reject: (id) => this.reject(id),
      setProgress: (p) => this.setProgress(p),
      appSlots: this.appSlots,
      worker: () => this.worker,
      beforeReboot: () => this.beforeReboot(),
      reboot: () => this.ports.reboot(),
      log: (l) => this.ports.log(l),
    });
    if (this.config.broker) {
      this.link = new AgentLink(
        this.config.broker,
        { deviceId: this.config.deviceId, board: this.config.board.name, group: this.config.group },
        {
          onAnnouncement: (_t, payload) => this.releases.announced(payload, this.link!),
          onCommand: (payload) => void this.serial(() => this.onCommand(payload)).catch((err: unknown) => this.commandFailed(err)),
          onConnect: () => this.emit('connected'),
          log: (l) => this.ports.log(l),
        },
      );
      this.releases.attach(this.link);
    }
    const action = classifyBoot(this.journal, this.view.slots);
    this.ports.log(`booted slot ${this.view.slots.booted}${this.view.slots.trial ? ' (trial)' : ''}, journal ${this.journal.state}: ${action.kind}${action.kind === 'event' ? ` ${action.event}` : ''}`);
    this.publishStatus();
    await this.serial(() => this.onBoot(action));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.releases?.abort();
    await this.queue.catch(() => undefined);
    await this.worker?.stop();
    await this.link?.close();
  }

  /** SIGHUP: a validated new config replaces keys, worker settings and the broker link. */
  async reload(config: DeviceConfig): Promise<void> {
    await this.serial(async () => {
      this.keys = await loadTrustedKeys(config.trustedKeys, config.revokedKeys, this.dev.fs);
      if (config.worker) this.worker?.reconfigure(config.worker);
      this.config = config;
      this.ports.log('config reloaded');
    });
  }

  /** Runs state changes one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async go(event: AgentEvent, patch: Partial<Journal> = {}): Promise<void> {
    const from = this.journal.state;
    const to = next(from, event);
    this.journal = { ...this.journal, ...patch, state: to };
    await this.store.save(this.journal);
    this.view = await readDevice(this.dev);
    if (to !== 'download') this.progress = null;
    this.ports.log(`${from} --${event}--> ${to}`);
    this.publishStatus();
    this.emit('state', to, event);
    if (to === 'idle') this.releases.idle();
  }

  private async note(patch: Partial<Journal>): Promise<void> {
    this.journal = { ...this.journal, ...patch };
    await this.store.save(this.journal);
    this.publishStatus();
  }

  private errorOf(err: unknown): Journal['lastError'] {
    return { code: errorCode(err), message: errorMessage(err), at: this.now().toISOString() };
  }

  private now(): Date {
    return this.ports.now?.() ?? new Date();
  }

  private result(result: NonNullable<Journal['lastResult']>['result']): Journal['lastResult'] {
    return { result, releaseId: this.journal.release?.id ?? null, version: this.journal.release?.version ?? null, at: this.now().toISOString() };
  }

  private async reject(releaseId: string): Promise<void> {
    const rejected = [...this.journal.rejected.filter((r) => r !== releaseId), releaseId].slice(-KEEP_IDS);
    this.journal = { ...this.journal, rejected };
    await this.store.save(this.journal);
  }

  private async onBoot(action: BootAction): Promise<void> {
    switch (action.kind) {
      case 'event':
        if (action.event === 'booted-trial') {
          if (!this.journal.release) {
            const rec = this.view.state.slots[this.view.slots.booted];
            this.journal.release = { id: rec?.releaseId ?? 'local', version: rec?.version ?? 'unknown', target: this.view.slots.booted, from: this.view.slots.inactive };
          }
          await this.go('booted-trial');
          void this.runTrial();
          return;
        }
        if (action.event === 'booted-fallback') {
          const failed = this.journal.release;
          await this.repairEnvAfterFallback();
          await this.go('booted-fallback', {
            lastResult: this.result('fallback'),
            lastError: { code: 'SF_ERR_BOOT_FALLBACK', message: `slot ${failed?.target ?? '?'} did not boot; the bootloader fell back to slot ${this.view.slots.booted}`, at: this.now().toISOString() },
            release: null,
          });
          if (failed) await this.reject(failed.id);
        } else if (action.event === 'booted-rolled-back') {
          await this.go('booted-rolled-back', { lastResult: this.result('rolled-back'), release: null });
        } else {
          await this.go(action.event, { release: null });
        }
        break;
      case 'reboot-pending':
        await this.beforeReboot();
        await this.ports.reboot();
        return;
      case 'finish-commit':
        await this.commit();
        break;
      case 'finish-rollback':
        await rollback(this.dev, { trialFailed: true });
        await this.beforeReboot();
        await this.ports.reboot();
        return;
      case 'resume-download':
        if (this.journal.release?.kind === 'app') await this.undoUnfinishedAppFlip();
        this.releases.resume();
        break;
      case 'none':
        break;
    }
    await this.worker?.start();
    this.publishStatus();
  }

  /**
   * After a fallback the env may still name the failed slot with the trial armed (when the
   * bootloader's altbootcmd only boots the other slot): point it at the running slot and clear
   * the counters in one write, so later boots do not go through the fallback path again.
   */
  private async repairEnvAfterFallback(): Promise<void> {
    const { booted, primary, trial, bootcount } = this.view.slots;
    if (primary === booted && !trial && bootcount === 0) return;
    await this.dev.env.update({ [this.config.slotVariable]: booted, upgrade_available: '0', bootcount: '0' });
    this.ports.log(`env repaired after the fallback: ${this.config.slotVariable}=${booted}, trial cleared`);
  }

  /**
   * An app update interrupted after `current` flipped but before the new worker proved
   * healthy: start from the previous app again; the resumed update swaps once more.
   */
  private async undoUnfinishedAppFlip(): Promise<void> {
    const cur = await this.appSlots.current();
    const info = cur ? await this.appSlots.info(cur) : undefined;
    if (info && info.version === this.journal.release?.version) {
      const back = await this.appSlots.rollbackApp();
      this.ports.log(`interrupted app swap: app slot ${back} is current again until the new worker proves healthy`);
    }
  }

  /** Trial boot: the worker (or, without one, the broker link) must come up healthy in time. */
  private async runTrial(): Promise<void> {
    const windowMs = (this.config.worker?.healthWindowSeconds ?? 60) * 1000;
    try {
      if (this.worker) {
        await this.worker.start();
        this.publishStatus();
        await this.worker.waitHealthy(windowMs);
        await this.worker.watchStable((this.config.worker?.trialSeconds ?? 10) * 1000);
      } else if (this.link) {
        await waitFor(() => this.link!.connected, windowMs, 'SF_ERR_WORKER_UNHEALTHY', 'the broker was not reachable during the trial');
      }
    } catch (err) {
      await this.serial(() => this.failTrial(err));
      return;
    }
    await this.serial(async () => {
      if (this.journal.state !== 'trial') return;
      await this.go('healthy');
      await this.commit();
    });
  }

  private async commit(): Promise<void> {
    await markGood(this.dev);
    if (this.journal.state === 'trial') await this.go('healthy');
    await this.go('committed', { lastResult: this.result('committed'), lastError: null, release: null });
  }

  private async failTrial(err: unknown): Promise<void> {
    if (this.journal.state !== 'trial' || this.stopping) return;
    this.ports.log(`trial failed: ${errorCode(err)} ${errorMessage(err)}`);
    const failed = this.journal.release;
    await this.go('unhealthy', { lastError: this.errorOf(err) });
    if (failed) await this.reject(failed.id);
    await rollback(this.dev, { trialFailed: true });
    await this.beforeReboot();
    await this.ports.reboot();
  }

  private async beforeReboot(): Promise<void> {
    await this.worker?.stop();
    await this.link?.flush();
  }

  private async onCommand(payload: Buffer): Promise<void> {
    let cmd: OperatorCommand;
    try {
      cmd = verifyCommand(payload, { deviceId: this.config.deviceId, keys: this.keys, revoked: this.config.revokedKeys, seen: this.journal.seenCommands, now: this.now() });
    } catch (err) {
      this.ports.log(`command refused: ${errorCode(err)} ${errorMessage(err)}`);
      this.journal = { ...this.journal, lastError: this.errorOf(err) };
      await this.store.save(this.journal);
      this.publishStatus();
      this.link?.publishEvent({ kind: 'command-refused', code: errorCode(err), message: errorMessage(err) });
      return;
    }
    this.journal = { ...this.journal, seenCommands: [...this.journal.seenCommands, cmd.id].slice(-KEEP_IDS) };
    await this.store.save(this.journal);
    this.link?.publishEvent({ kind: 'command-accepted', type: cmd.type, id: cmd.id });
    this.ports.log(`command ${cmd.type} (${cmd.id}) accepted`);
    if (cmd.type === 'reboot') {
      await this.beforeReboot();
      await this.ports.reboot();
    } else if (cmd.type === 'cancel') {
      await this.releases.cancel();
    } else {
      await this.operatorRollback();
    }
  }

  /** A verified command that could not be carried out (e.g. no verified slot to roll back to). */
  private async commandFailed(err: unknown): Promise<void> {
    this.ports.log(`command failed: ${errorCode(err)} ${errorMessage(err)}`);
    await this.serial(() => this.note({ lastError: this.errorOf(err) }));
    this.link?.publishEvent({ kind: 'command-failed', code: errorCode(err), message: errorMessage(err) });
  }

  private async operatorRollback(): Promise<void> {
    if (this.journal.state === 'trial') return this.failTrial(new SlotflipError('SF_ERR_ROLLBACK_REQUESTED', 'an operator requested a rollback during the trial'));
    if (this.journal.state === 'download') await this.releases.cancel();
    if (this.journal.state !== 'idle') {
      this.ports.log(`rollback ignored in state ${this.journal.state}`);
      return;
    }
    const r = await rollback(this.dev);
    if (!r.needsReboot) {
      this.publishStatus();
      return;
    }
    const rec = this.view.state.slots[r.from];
    await this.go('rollback-requested', { release: { id: rec?.releaseId ?? 'unknown', version: rec?.version ?? 'unknown', target: r.from, from: r.to } });
    await this.beforeReboot();
    await this.ports.reboot();
  }

  private setProgress(p: Progress | null): void {
    this.progress = p;
    const now = Date.now();
    if (p && now - this.lastProgressReport < 1000 && p.received < p.total) return;
    this.lastProgressReport = now;
    this.publishStatus();
    if (p) this.emit('progress', p);
  }

  statusReport(): StatusReport {
    const { slots, state } = this.view;
    const rec = state.slots[slots.booted];
    const rel = this.journal.release;
    return {
      deviceId: this.config.deviceId,
      board: this.config.board.name,
      group: this.config.group ?? null,
      online: true,
      state: this.journal.state,
      slot: slots.booted,
      version: rec?.version ?? null,
      trial: slots.trial && slots.primary === slots.booted,
      release: rel ? { id: rel.id, version: rel.version, target: rel.target } : null,
      progress: this.progress,
      worker: this.worker ? this.worker.health() : null,
      lastResult: this.journal.lastResult,
      lastError: this.journal.lastError,
      at: this.now().toISOString(),
    };
  }

  private publishStatus(): void {
    const report = this.statusReport();
    this.link?.publishStatus(report);
    this.emit('status', report);
  }
}

function waitFor(cond: () => boolean, ms: number, code: string, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = setInterval(() => {
      if (cond()) {
        clearInterval(tick);
        resolve();
      } else if (Date.now() - started > ms) {
        clearInterval(tick);
        reject(new SlotflipError(code, message));
      }
    }, 100);
  });
}
