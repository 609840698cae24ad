// install-vs-dd: `slotflip install` of a 256 MiB bundle into a file slot beside
// `dd bs=1M conv=fsync` of the same image onto the same disk, the limit any installer can reach.
//   node --import tsx bench/install.ts [--size 256M] [--runs 3] [--json FILE]

import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { compareInstalls } from './lib/compare.js';
import { emit } from './lib/metric.js';
import { runTimed } from './lib/system.js';

const row = await compareInstalls({
  name: 'install-vs-dd',
  argv: process.argv,
  other: {
    label: 'dd bs=1M conv=fsync',
    async setup() {},
    async run(work, image) {
      const out = path.join(work, 'dd-slot.img');
      rmSync(out, { force: true });
      return (await runTimed('dd', [`if=${image}`, `of=${out}`, 'bs=1M', 'conv=fsync'])).seconds;
    },
  },
});
emit([row]);
