// `slotflip image`: QEMU board images for the integration suite. `build` makes a whole disk
// (boot partition, slot A, empty slot B, data, fresh env); `slot` makes one slot rootfs of a
// version (what an update bundle carries), broken variants included. The work is in qemu/.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from '../commands.js';
import { helpText, parse, required, type OptionSpec } from '../args.js';
import { UsageError } from '../../errors.js';
import { buildBaseImage, buildUpdateImage } from '../../../qemu/image.js';
import { VARIANTS, type Variant } from '../../../qemu/rootfs.js';

const OPTIONS = {
  board: { type: 'string', arg: 'NAME', help: 'board profile (qemu-arm64-virt, qemu-armhf-virt, qemu-mips64el-malta)' },
  out: { type: 'string', arg: 'PATH', help: 'build: output folder (default images/BOARD); slot: output file' },
  version: { type: 'string', arg: 'V', default: '1.0.0', help: 'version the image reports' },
  variant: { type: 'string', arg: 'NAME', default: 'good', help: `slot variant: ${VARIANTS.join(', ')}` },
  'device-config': { type: 'string', arg: 'FILE', help: 'device config JSON installed as /etc/slotflip/device.json (starts the agent)' },
  json: { type: 'boolean', help: 'print the result as JSON' },
} satisfies Record<string, OptionSpec>;

const USAGE = 'slotflip image build --board NAME [--out DIR] [--version V] [--device-config FILE]\n       slotflip image slot --board NAME --out FILE [--version V] [--variant NAME]';

export const command: Command = {
  summary: 'build QEMU board images (base disk, or one slot rootfs) from Debian packages',
  async run(argv, io) {
    const a = parse(argv, OPTIONS);
    if (a.help) {
      io.out.write(helpText(USAGE, OPTIONS));
      return 0;
    }
    const [sub] = a.positionals;
    if (sub !== 'build' && sub !== 'slot') throw new UsageError(`expected "image build" or "image slot"\nusage: ${USAGE}`);
    const board = required(a.values.board, '--board');
    const variant = a.values.variant as Variant;
    if (!VARIANTS.includes(variant)) throw new UsageError(`--variant must be one of ${VARIANTS.join(', ')}`);
    const deviceConfig = a.values['device-config'] ? (JSON.parse(fs.readFileSync(a.values['device-config'], 'utf8')) as unknown) : undefined;
    const log = (line: string): void => void (a.values.json ? io.err : io.out).write(`${line}\n`);
    const recipe = { board, version: a.values.version!, variant, deviceConfig, log };
    if (sub === 'slot') {
      const out = path.resolve(required(a.values.out, '--out'));
      const slot = await buildUpdateImage({ ...recipe, out });
      if (a.values.json) io.out.write(JSON.stringify({ ok: true, ...slot }) + '\n');
      else io.out.write(`slot image ${slot.image} (${slot.bytes >> 20} MiB, ${slot.version}, ${slot.variant})\n`);
      return 0;
    }
    const outDir = path.resolve(a.values.out ?? path.join('images', board));
    const img = await buildBaseImage({ ...recipe, outDir });
    if (a.values.json) {
      io.out.write(JSON.stringify({ ok: true, disk: img.disk, fwEnvConfig: img.fwEnvConfig, kernel: img.kernel, initrd: img.initrd, slotA: img.slotA, timings: img.timings }) + '\n');
    } else {
      io.out.write(`disk ${img.disk}\nenv  fw_printenv -c ${img.fwEnvConfig}\n`);
      if (img.kernel) io.out.write(`first stage: ${img.kernel} ${img.initrd}\n`);
    }
    return 0;
  },
};
