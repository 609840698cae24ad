// Application A/B slots on the data partition: DATA/app/a and DATA/app/b, and an atomic
// DATA/app/current symlink naming the live one. An app payload is staged into the inactive
// slot, fsynced, offered to the pre-install hook, marked complete, and only then flipped to.

import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { readFileIfExists, realFs, writeFileAtomic, type FileSystem } from '../../platform/fs.js';
import { extractApp, type ExtractStats } from './app-tar.js';
import { AppSlotError, AppVetoedError } from './errors.js';
import { realProcesses, type ProcessSeam } from './process-seam.js';

export type AppSlot = 'a' | 'b';

/** DATA/app/<slot>.json: written only after the slot's files are durable and the hook agreed. */
export interface AppSlotInfo {
  slot: AppSlot;
  version: string | undefined;
  installedAt: string;
}

export interface StageOptions {
  version?: string;
  /** argv of the pre-install hook; the staged folder is appended as the last argument. */
  preInstall?: string[];
  hookTimeoutMs?: number;
}

export interface StageResult {
  slot: AppSlot;
  dir: string;
  stats: ExtractStats;
}

const other = (s: AppSlot): AppSlot => (s === 'a' ? 'b' : 'a');

export class AppSlots {
  readonly root: string;
  private readonly fs: FileSystem;
  private readonly seam: ProcessSeam;
  private readonly hookOutput: 'inherit' | 'ignore';

  constructor(opts: { dataDir: string; fs?: FileSystem; processes?: ProcessSeam; hookOutput?: 'inherit' | 'ignore' }) {
    this.root = path.join(opts.dataDir, 'app');
    this.fs = opts.fs ?? realFs;
    this.seam = opts.processes ?? realProcesses;
    this.hookOutput = opts.hookOutput ?? 'inherit';
  }

  dir(slot: AppSlot): string {
    return path.join(this.root, slot);
  }

  get currentLink(): string {
    return path.join(this.root, 'current');
  }

  /** The slot `current` names, or undefined before the first install. */
  async current(): Promise<AppSlot | undefined> {
    let target: string;
    try {
      target = await this.fs.readlink(this.currentLink);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (target !== 'a' && target !== 'b') throw new AppSlotError(`${this.currentLink} points to ${target}, not to an app slot`);
    return target;
  }

  /** The live slot's real folder (what a worker's `{app}` should be), if any. */
  async currentDir(): Promise<string | undefined> {
    const s = await this.current();
    return s && this.dir(s);
  }

  async inactive(): Promise<AppSlot> {
    const s = await this.current();
    return s ? other(s) : 'a';
  }

  /** The slot's completion record; undefined for a slot that is empty or was half written. */
  async info(slot: AppSlot): Promise<AppSlotInfo | undefined> {
    const bytes = await readFileIfExists(this.fs, this.infoFile(slot));
    if (!bytes) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8')) as AppSlotInfo;
    } catch (cause) {
      throw new AppSlotError(`${this.infoFile(slot)} is not valid JSON`, { cause });
    }
  }

  /**
   * Extracts `payload` into the inactive slot (emptied first), fsyncs it, runs the pre-install
   * hook, and records the slot as complete. Does not flip; `install` does both.
   */
  async stage(payload: Readable | AsyncIterable<Uint8Array>, opts: StageOptions = {}): Promise<StageResult> {
    const slot = await this.inactive();
    const dir = this.dir(slot);
    // The completion record goes first, so a power cut mid-stage never leaves a slot that claims to be whole.
    await this.fs.mkdir(this.root);
    await this.fs.unlink(this.infoFile(slot));
    await this.fs.syncDir(this.root);
    await this.fs.rmrf(dir);
    await this.fs.mkdir(dir);
    const stats = await extractApp(payload, dir, this.fs);
    await this.fs.syncDir(this.root);
    if (opts.preInstall) {
      try {
        await this.runHook(opts.preInstall, dir, opts);
      } catch (err) {
        await this.fs.rmrf(dir);
        throw err;
      }
    }
    const info: AppSlotInfo = { slot, version: opts.version, installedAt: new Date().toISOString() };
    await writeFileAtomic(this.fs, this.infoFile(slot), JSON.stringify(info) + '\n');
    return { slot, dir, stats };
  }

  /** Points `current` at `slot` atomically: a new link under a temporary name, renamed over. */
  async flip(slot: AppSlot): Promise<void> {
    if (!(await this.info(slot))) throw new AppSlotError(`app slot ${slot} holds no complete install`);
    const tmp = path.join(this.root, '.current.tmp');
    await this.fs.unlink(tmp);
    await this.fs.symlink(slot, tmp);
    await this.fs.rename(tmp, this.currentLink);
    await this.fs.syncDir(this.root);
  }

  /** stage + flip. Returns the slot now live and the one that was. */
  async install(payload: Readable | AsyncIterable<Uint8Array>, opts: StageOptions = {}): Promise<StageResult & { previous: AppSlot | undefined }> {
    const previous = await this.current();
    const staged = await this.stage(payload, opts);
    await this.flip(staged.slot);
    return { ...staged, previous };
  }

  /** Flips `current` back to the other slot, which must hold a complete install. */
  async rollbackApp(): Promise<AppSlot> {
    const now = await this.current();
    if (!now) throw new AppSlotError('no app is installed, so there is nothing to roll back to');
    const back = other(now);
    if (!(await this.info(back))) throw new AppSlotError(`app slot ${back} holds no complete install to roll back to`);
    await this.flip(back);
    return back;
  }

  private infoFile(slot: AppSlot): string {
    return path.join(this.root, `${slot}.json`);
  }

  private runHook(argv: string[], dir: string, opts: StageOptions): Promise<void> {
    const timeoutMs = opts.hookTimeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const child = this.seam.spawn({
        file: argv[0]!,
        args: [...argv.slice(1), dir],
        env: { ...stringEnv(), SLOTFLIP_STAGED_APP: dir, ...(opts.version ? { SLOTFLIP_APP_VERSION: opts.version } : {}) },
        cwd: dir,
        stdio: ['ignore', this.hookOutput, this.hookOutput],
        detached: true,
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) this.seam.kill(-child.pid, 'SIGKILL');
      }, timeoutMs);
      child.once('error', (cause) => {
        clearTimeout(timer);
        reject(new AppVetoedError(`pre-install hook ${argv[0]} could not run`, { cause }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve();
        const how = timedOut ? `ran longer than ${timeoutMs} ms` : signal ? `was killed by ${signal}` : `exited with ${code}`;
        reject(new AppVetoedError(`pre-install hook ${argv.join(' ')} ${how}: install vetoed`, { details: { code, signal } }));
      });
    });
  }
}

function stringEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}
