// Shared pieces of the worker-supervision tests: a worker config with short timings, app
// folders holding the sample worker, a recording process seam, HTTP probes, and the /proc
// check that no child process was left behind.

import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from '../../../src/config/device.js';
import { realProcesses, type ProcessSeam, type SpawnRequest } from '../../../src/agent/worker/process-seam.js';

export const SAMPLE_DIR = fileURLToPath(new URL('../../../examples/sample-worker/', import.meta.url));

export function tempDir(prefix = 'sf-worker-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A copy of the sample worker with its own VERSION (and knobs.json for a broken variant). */
export function makeAppDir(parent: string, name: string, version: string, knobs?: Record<string, string>): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  cpSync(join(SAMPLE_DIR, 'server.mjs'), join(dir, 'server.mjs'));
  writeFileSync(join(dir, 'VERSION'), version + '\n');
  if (knobs) writeFileSync(join(dir, 'knobs.json'), JSON.stringify(knobs));
  return dir;
}

export function workerConfig(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    command: [process.execPath, '{app}/server.mjs'],
    cwd: undefined,
    env: {},
    sockets: [{ name: 'http', tcp: '127.0.0.1:0' }],
    healthWindowSeconds: 5,
    trialSeconds: 1,
    heartbeatTimeoutSeconds: 2,
    drainSeconds: 0,
    terminateTimeoutSeconds: 3,
    restartBackoff: { initialMs: 100, maxMs: 1000 },
    configFile: undefined,
    preInstall: undefined,
    ...over,
  };
}

export interface Recorded {
  seam: ProcessSeam;
  spawns: SpawnRequest[];
  kills: { pid: number; signal: NodeJS.Signals }[];
}

export function recordingSeam(): Recorded {
  const spawns: SpawnRequest[] = [];
  const kills: { pid: number; signal: NodeJS.Signals }[] = [];
  return {
    spawns,
    kills,
    seam: {
      ...realProcesses,
      spawn(req) {
        spawns.push(req);
        return realProcesses.spawn(req);
      },
      kill(pid, signal) {
        kills.push({ pid, signal });
        return realProcesses.kill(pid, signal);
      },
    },
  };
}

export interface Reply {
  status: number;
  body: string;
  json: { version?: string; pid?: number; greeting?: string } | undefined;
}

/** One request on a fresh connection (no keep-alive), to a TCP port or a Unix socket path. */
export function get(target: number | string, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const where = typeof target === 'number' ? { host: '127.0.0.1', port: target } : { socketPath: target };
    const req = http.get({ ...where, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let json: Reply['json'];
        try {
          json = JSON.parse(body) as Reply['json'];
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Live (non-zombie) processes whose parent is `pid`, but for tsx's esbuild service. */
export function childrenOf(pid: number = process.pid): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // tsx keeps an esbuild service as a child of the test process; it is the runner's, not ours.
    if (Number(f[1]) === pid && f[0] !== 'Z' && !stat.includes('(esbuild)')) out.push(Number(name));
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves with the first event `name` whose payload passes `pred`. */
export function nextEvent<T>(em: NodeJS.EventEmitter, name: string, pred: (e: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      em.off(name, on);
      reject(new Error(`no '${name}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (e: T): void => {
      if (!pred(e)) return;
      clearTimeout(timer);
      em.off(name, on);
      resolve(e);
    };
    em.on(name, on);
  });
}
