// Peak memory of `slotflip bundle create` and `bundle verify` against payload size: each
// step runs in its own process (so its peak RSS is its own) on a sparse image with some data
// regions. Flat figures across sizes show the streaming holds.
//   node --import tsx bench/bundle-rss.ts [SIZES]     e.g. 64M,2G (the default)
// Prints one line per size and step, and a JSON summary last.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, writeSync, closeSync, ftruncateSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
}

/** A sparse file of `size` bytes with 1 MiB of random data every 64 MiB (and at the start). */
function makeImage(file: string, size: number): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, size);
    for (let at = 0; at < size; at += 64 * 1024 * 1024) writeSync(fd, randomBytes(Math.min(1024 * 1024, size - at)), 0, undefined, at);
  } finally {
    closeSync(fd);
  }
}

async function child(argv: string[]): Promise<void> {
  const { main } = await import('../src/cli/main.js');
  const started = process.hrtime.bigint();
  const code = await main(argv, { out: process.stdout, err: process.stderr, stdin: process.stdin, env: {} });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`@@${JSON.stringify({ code, seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

function step(argv: string[]): { code: number; seconds: number; maxRssMiB: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', ...argv], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`step ${argv.slice(0, 2).join(' ')} failed: ${r.stderr}`);
  return JSON.parse(line.slice(2));
}

async function bench(sizes: number[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slotflip-bench-'));
  const results: Record<string, unknown>[] = [];
  try {
    const kg = step(['keygen', '--out', join(dir, 'k')]);
    if (kg.code !== 0) throw new Error('keygen failed');
    // What the process costs before any bundle work (Node + tsx + the CLI modules).
    const base = step(['bundle', 'inspect', '--help']);
    console.log(`baseline (bundle inspect --help): peak RSS ${base.maxRssMiB.toFixed(1)} MiB`);
    results.push({ step: 'baseline', ...base });
    for (const size of sizes) {
      const img = join(dir, 'rootfs.img');
      const out = join(dir, 'b.sfb');
      makeImage(img, size);
      const c = step(['bundle', 'create', '--board', 'bench', '--version', '1.0.0', '--payload', `rootfs=${img}`, '--key', join(dir, 'k', 'private.pem'), '-o', out]);
      const bundleBytes = statSync(out).size;
      const v = step(['bundle', 'verify', out, '--pubkey', join(dir, 'k', 'public.pem')]);
      if (c.code !== 0 || v.code !== 0) throw new Error(`create exit ${c.code}, verify exit ${v.code}`);
      const mib = size / 1024 ** 2;
      for (const [name, s] of [['create', c], ['verify', v]] as const) {
        console.log(`${name.padEnd(6)} ${mib.toFixed(0).padStart(6)} MiB payload: peak RSS ${s.maxRssMiB.toFixed(1)} MiB, ${s.seconds.toFixed(2)} s, ${(mib / s.seconds).toFixed(0)} MiB/s`);
        results.push({ step: name, payloadBytes: size, bundleBytes, ...s });
      }
      rmSync(img);
      rmSync(out);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ bench: 'bundle-rss', node: process.version, results }));
}

const args = process.argv.slice(2);
if (args[0] === '--child') await child(args.slice(1));
else await bench((args[0] ?? '64M,2G').split(',').map(parseSize));
