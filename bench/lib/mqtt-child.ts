// Runs a benchmark child and reads its JSON lines. Children are bundled with esbuild into one
// .mjs first, the way devices run slotflip (dist/device), so their RSS is not the TypeScript
// loader's. A timeout makes a stuck run fail instead of hang.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';

export interface Child {
  proc: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  /** Lets the child exit by itself (profiles get written), killing it after 5 s. */
  finish(): Promise<void>;
}

const REQUIRE_SHIM = "import { createRequire as __sfCreateRequire } from 'node:module'; const require = __sfCreateRequire(import.meta.url);";

/** Bundles `script` into `outDir`; returns the .mjs path. */
export async function bundleChild(script: string, outDir: string): Promise<string> {
  const outfile = path.join(outDir, path.basename(script).replace(/\.ts$/, '.mjs'));
  await build({ entryPoints: [script], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node18', banner: { js: REQUIRE_SHIM }, logLevel: 'warning' });
  return outfile;
}

/** The node binary children run on (the bench's own unless --node names another, e.g. Node 18). */
let childNode = process.execPath;
export function setChildNode(node: string): void {
  childNode = node;
}

export function startChild(bundle: string, args: unknown, extraNodeArgs: readonly string[] = [], env: Readonly<Record<string, string>> = {}): Child {
  const nodeArgs = [...(process.env.SF_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...extraNodeArgs]; // e.g. --cpu-prof
  const proc = spawn(childNode, [...nodeArgs, bundle, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return {
    proc,
    async finish() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await once(proc, 'exit');
      clearTimeout(timer);
    },
    async next() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${bundle}: no answer within 120 s`)), 120_000);
      });
      try {
        for (;;) {
          const r = await Promise.race([lines.next(), timeout]);
          if (r.done) throw new Error(`${bundle} exited (code ${proc.exitCode}) without an answer`);
          if (r.value.startsWith('{')) return JSON.parse(r.value) as Record<string, unknown>;
          process.stderr.write(`${r.value}\n`); // V8's own output (--trace-gc) goes to stdout too
        }
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
