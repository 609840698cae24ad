// Running host tools (apt-get, mke2fs, sfdisk, mkimage...) with their output captured, so a
// failure carries the command line and the tail of stderr instead of a bare exit code.

import { spawn } from 'node:child_process';
import { QemuError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Return instead of throwing on a non-zero exit. */
  allowFail?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (cause) => reject(new QemuError(`cannot run ${cmd}`, { cause })));
    child.on('close', (code, signal) => {
      const r = { code: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (r.code !== 0 && !opts.allowFail) {
        const tail = r.stderr.trim().split('\n').slice(-8).join('\n');
        reject(new QemuError(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${r.code}`}): ${tail}`, { details: { cmd, args } }));
        return;
      }
      resolve(r);
    });
    // A tool that exits without reading its input closes the pipe: EPIPE there is not a
    // failure of ours, the exit status says whether the tool worked.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(new QemuError(`writing to ${cmd}`, { cause: e }));
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** True when an executable is on PATH. */
export async function have(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', `command -v ${cmd}`], { allowFail: true });
  return r.code === 0;
}
