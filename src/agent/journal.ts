// The agent's journal (DATA/journal.json): its state by stable name and what the current
// update is about, replaced atomically on every transition so a restart or power cut
// continues where the agent was.

import * as path from 'node:path';
import { readFileIfExists, writeFileAtomic, type FileSystem } from '../platform/fs.js';
import { SlotflipError } from '../errors.js';
import { isState, type AgentState } from './states.js';
import type { SlotName } from '../slots/model.js';

export const JOURNAL_FORMAT = 1;

export interface JournalRelease {
  id: string;
  version: string;
  /** Slot the update writes (the inactive one when it started) and the slot it came from. */
  target: SlotName;
  from: SlotName;
  /** 'app': an application/config update (no reboot); firmware otherwise. */
  kind?: 'firmware' | 'app';
}

export interface Journal {
  format: typeof JOURNAL_FORMAT;
  state: AgentState;
  release: JournalRelease | null;
  lastError: { code: string; message: string; at: string } | null;
  /** The last outcome worth reporting after a reboot: committed, rolled-back, fallback. */
  lastResult: { result: 'committed' | 'rolled-back' | 'fallback' | 'failed'; releaseId: string | null; version: string | null; at: string } | null;
  /** Releases refused, failed or rolled back: a retained announcement of one is not retried. */
  rejected: string[];
  /** Operator command ids already executed (replay protection), newest last. */
  seenCommands: string[];
  updatedAt: string;
}

export class JournalError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SF_ERR_JOURNAL', message, options);
  }
}

export function freshJournal(): Journal {
  return { format: JOURNAL_FORMAT, state: 'idle', release: null, lastError: null, lastResult: null, rejected: [], seenCommands: [], updatedAt: new Date(0).toISOString() };
}

export class JournalStore {
  readonly file: string;

  constructor(
    private readonly fs: FileSystem,
    dataDir: string,
  ) {
    this.file = path.join(dataDir, 'journal.json');
  }

  async load(): Promise<Journal> {
    const raw = await readFileIfExists(this.fs, this.file);
    if (!raw) return freshJournal();
    let j: Journal;
    try {
      j = JSON.parse(raw.toString('utf8')) as Journal;
    } catch (cause) {
      throw new JournalError(`${this.file} is not valid JSON`, { cause });
    }
    if (j.format !== JOURNAL_FORMAT || !isState(j.state)) throw new JournalError(`${this.file}: unknown format ${String(j.format)} or state ${String(j.state)}`);
    return { ...freshJournal(), ...j };
  }

  async save(j: Journal): Promise<void> {
    j.updatedAt = new Date().toISOString();
    await this.fs.mkdir(path.dirname(this.file));
    await writeFileAtomic(this.fs, this.file, JSON.stringify(j, null, 2) + '\n');
  }
}
