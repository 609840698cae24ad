// The shape shared by install-vs-dd, -rauc and -swupdate: one image, one disk, runs of
// slotflip and of the other tool interleaved, each from a cold page cache, throughput as
// image bytes / wall time of the whole command; the row holds the medians.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { makeImage, IMAGE_KIND } from './image.js';
import { coldCache } from './system.js';
import { buildDeviceCli, freshDevice, installOnce, makeBundle, makeKeys } from './slotflip.js';
import { argValue, median, metric, MiB, parseSize, spread, type Metric } from './metric.js';

export interface Other {
  /** Label of the baseline in the row, e.g. "dd conv=fsync". */
  label: string;
  /** Once per bench: bundles, configs, daemons. */
  setup(work: string, image: string): Promise<void>;
  /** One timed install of the image; returns wall seconds. */
  run(work: string, image: string, index: number): Promise<number>;
  teardown?(): Promise<void>;
}

export interface CompareOptions {
  name: string;
  argv: string[];
  other: Other;
}

export async function compareInstalls({ name, argv, other }: CompareOptions): Promise<Metric> {
  const size = parseSize(argValue(argv, '--size') ?? '256M');
  const runs = Number(argValue(argv, '--runs') ?? process.env['BENCH_RUNS'] ?? 3);
  const work = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? tmpdir(), `sf-bench-${name}-`));
  try {
    const image = path.join(work, 'rootfs.img');
    makeImage(image, size);
    const keys = await makeKeys(path.join(work, 'keys'));
    const bundle = path.join(work, 'update.sfb');
    await makeBundle(image, bundle, keys);
    const cli = await buildDeviceCli(work);
    await other.setup(work, image);
    const ours: number[] = [];
    const theirs: number[] = [];
    let cold = true;
    for (let i = 0; i < runs; i++) {
      cold = coldCache() && cold;
      theirs.push(size / MiB / (await other.run(work, image, i)));
      const dev = await freshDevice(work, keys);
      cold = coldCache() && cold;
      ours.push(size / MiB / (await installOnce(cli, bundle, dev.config, path.join(work, 'hwm'))).seconds);
      rmSync(dev.dir, { recursive: true, force: true });
    }
    const note = `${size / MiB} MiB ${IMAGE_KIND}; page cache ${cold ? 'dropped' : 'NOT dropped (not root)'} before each run; slotflip MiB/s ${spread(ours)}; ${other.label} MiB/s ${spread(theirs)}`;
    return metric(name, median(ours), 'MiB/s', other.label, median(theirs), note);
  } finally {
    await other.teardown?.();
    rmSync(work, { recursive: true, force: true });
  }
}
