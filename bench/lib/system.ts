// What the benches ask of the host: a cold page cache before each timed run (both sides of a
// comparison start from the same state), whether a tool is installed, and a timed child run.

import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { writeFileSync } from 'node:fs';

let canDrop: boolean | undefined;

/**
 * sync, then drop the page cache when we may (root). Without it the source is read from
 * memory; both sides of a comparison are still treated alike, and the docs say so.
 */
export function coldCache(): boolean {
  spawnSync('sync');
  if (canDrop === false) return false;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    canDrop = true;
  } catch {
    canDrop = false;
  }
  return canDrop;
}

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The installed Debian package's version ("1.8-2"), or undefined when dpkg does not know it. */
export function debianVersion(pkg: string): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout ? r.stdout.trim() : undefined;
}

export interface Timed {
  code: number | null;
  seconds: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, timing it from spawn to exit. Rejects on a non-zero exit. */
export function runTimed(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-8192)));
    child.once('error', reject);
    child.once('close', (code) => {
      const r = { code, seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout, stderr };
      if (code === 0) resolve(r);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join('\n')}`));
    });
  });
}
