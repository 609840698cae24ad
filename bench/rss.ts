// rss-64m, rss-256m, rss-1g: peak RSS (VmHWM, read by the process itself at exit) of
// `slotflip install` (the one-file device build) of 64 MiB, 256 MiB and 1 GiB bundles, each in
// its own process. Baselines: a bare `node -e ''` for 64 MiB (what Node costs before slotflip
// does anything), the 64 MiB figure for the larger ones (ratio 1.0 = flat in image size).
//   node --import tsx bench/rss.ts [--sizes 64M,256M,1G] [--runs 1] [--json FILE]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { makeImage } from './lib/image.js';
import { buildDeviceCli, freshDevice, installOnce, makeBundle, makeKeys, runNode, SLOT_SIZE } from './lib/slotflip.js';
import { argValue, emit, median, metric, MiB, parseSize, spread, type Metric } from './lib/metric.js';

const sizes = (argValue(process.argv, '--sizes') ?? '64M,256M,1G').split(',');
const runs = Number(argValue(process.argv, '--runs') ?? 1);
const work = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), 'sf-bench-rss-'));
const label = (s: string): string => `rss-${s.toLowerCase()}`;

try {
  const cli = await buildDeviceCli(work);
  const keys = await makeKeys(path.join(work, 'keys'));
  const hwm = path.join(work, 'hwm');
  const bare: number[] = [];
  for (let i = 0; i < Math.max(runs, 3); i++) bare.push((await runNode(['-e', ''], hwm)).hwmMiB);
  const rows: Metric[] = [];
  let first: number | undefined;
  for (const s of sizes) {
    const size = parseSize(s);
    const image = path.join(work, 'rootfs.img');
    const bundle = path.join(work, 'update.sfb');
    makeImage(image, size);
    await makeBundle(image, bundle, keys);
    rmSync(image);
    const peaks: number[] = [];
    for (let i = 0; i < runs; i++) {
      const dev = await freshDevice(work, keys, Math.max(SLOT_SIZE, size));
      peaks.push((await installOnce(cli, bundle, dev.config, hwm)).hwmMiB);
      rmSync(dev.dir, { recursive: true, force: true });
    }
    rmSync(bundle);
    const peak = median(peaks);
    const note = `VmHWM MiB ${spread(peaks, 1)}`;
    rows.push(
      first === undefined
        ? metric(label(s), peak, 'MiB', "bare node -e ''", median(bare), `${note}; bare node ${spread(bare, 1)}`)
        : metric(label(s), peak, 'MiB', `${label(sizes[0]!)} (flat = 1.0)`, first, note),
    );
    first ??= peak;
    console.log(`${label(s)}: ${size / MiB} MiB bundle, peak RSS ${peak.toFixed(1)} MiB`);
  }
  emit(rows);
} finally {
  rmSync(work, { recursive: true, force: true });
}
