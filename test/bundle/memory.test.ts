// Constant memory: creating and verifying a bundle of a 256 MiB sparse image must peak at
// about the same RSS as for a 16 MiB one. Runs bench/bundle-rss.ts (each step in its own
// process); `node --import tsx bench/bundle-rss.ts 64M,2G` gives the full-size figures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('bundle create and verify keep peak RSS flat from 16 MiB to 256 MiB payloads', { timeout: 180_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bundle-rss.ts', '16M,256M'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { results: { step: string; payloadBytes?: number; maxRssMiB: number }[] };
  const peak = (step: string, size: number): number => summary.results.find((x) => x.step === step && x.payloadBytes === size)!.maxRssMiB;
  for (const step of ['create', 'verify']) {
    const small = peak(step, 16 * 1024 ** 2);
    const big = peak(step, 256 * 1024 ** 2);
    // 240 MiB more payload; garbage-collector slack varies by a few tens of MiB, a buffered
    // payload would add hundreds.
    assert.ok(big - small < 48, `${step}: peak RSS ${small.toFixed(1)} MiB at 16 MiB, ${big.toFixed(1)} MiB at 256 MiB`);
  }
});
