// The process seam: every spawn, signal and /proc lookup of worker supervision goes through a
// `ProcessSeam`, so tests can record what was started and killed (or fake a failure) without
// patching child_process. `realProcesses` is the only implementation under src/.

import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface SpawnRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string | undefined;
  /** stdio[0..2] as usual; 3 onward are inherited fds (numbers) or 'pipe'. */
  stdio: StdioOptions;
  /** Own process group, so a SIGKILL to the group also reaches the worker's children. */
  detached: boolean;
}

export interface ProcessSeam {
  spawn(req: SpawnRequest): ChildProcess;
  /** Runs a short helper to completion (the one-off listen(2) step of sockets.ts). */
  runSync(file: string, args: string[], stdio: StdioOptions): { status: number | null; stderr: string };
  /** Sends `signal` to `pid` (a negative pid means the process group); false when it is gone. */
  kill(pid: number, signal: NodeJS.Signals): boolean;
  /** Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22), or undefined. */
  startTime(pid: number): number | undefined;
}

export function procStartTime(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // No such process (or no /proc): the answer "not running" is exactly what callers want.
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z') return undefined; // a zombie is not running
  const ticks = Number(rest[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

export const realProcesses: ProcessSeam = {
  spawn(req) {
    return spawn(req.file, req.args, { env: req.env, cwd: req.cwd, stdio: req.stdio, detached: req.detached });
  },
  runSync(file, args, stdio) {
    const r = spawnSync(file, args, { stdio, encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw r.error;
    return { status: r.status, stderr: r.stderr ?? '' };
  },
  kill(pid, signal) {
    try {
      process.kill(pid, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  },
  startTime: procStartTime,
};
