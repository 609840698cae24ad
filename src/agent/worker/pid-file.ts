// Worker pids written down, so a watcher that was killed (kill -9, OOM) and started again can
// stop the workers its predecessor left running: they hold the old listening sockets, and a
// second generation of workers beside them is exactly what "one worker serving" forbids.

import { setTimeout as delay } from 'node:timers/promises';
import { readFileIfExists, writeFileAtomic, type FileSystem } from '../../platform/fs.js';
import type { ProcessSeam } from './process-seam.js';

interface PidEntry {
  pid: number;
  /** /proc start time, so a pid the kernel has since reused is never signalled. */
  start: number;
}

export class PidFile {
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly fs: FileSystem,
    private readonly seam: ProcessSeam,
  ) {}

  /** Records the live worker pids; writes are serialised so the last one wins. */
  record(pids: readonly number[]): Promise<void> {
    const entries: PidEntry[] = [];
    for (const pid of pids) {
      const start = this.seam.startTime(pid);
      if (start !== undefined) entries.push({ pid, start });
    }
    const next = this.writing.then(() => writeFileAtomic(this.fs, this.file, JSON.stringify(entries) + '\n'));
    this.writing = next.catch(() => undefined); // the caller of `record` sees the failure, the chain goes on
    return next;
  }

  /**
   * SIGTERM to every recorded worker that still runs, SIGKILL to its group after `timeoutMs`.
   * Returns the pids that were found running.
   */
  async reap(timeoutMs: number): Promise<number[]> {
    const bytes = await readFileIfExists(this.fs, this.file);
    if (!bytes) return [];
    let entries: PidEntry[];
    try {
      entries = JSON.parse(bytes.toString('utf8')) as PidEntry[];
    } catch {
      // A torn or foreign file names no process we could safely signal; it is rewritten on start.
      return [];
    }
    const alive = (e: PidEntry): boolean => this.seam.startTime(e.pid) === e.start;
    const found = entries.filter((e) => Number.isInteger(e.pid) && e.pid > 1 && alive(e));
    for (const e of found) this.seam.kill(e.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    // These are not our children, so no exit event exists for them: poll /proc until they are gone.
    while (found.some(alive) && Date.now() < deadline) await delay(50);
    for (const e of found) if (alive(e)) this.seam.kill(-e.pid, 'SIGKILL');
    while (found.some(alive) && Date.now() < deadline + timeoutMs) await delay(20);
    return found.map((e) => e.pid);
  }
}
