// install-vs-swupdate: `slotflip install` beside `swupdate -i` (SWUpdate 2022.12, Debian) of
// the same image into a raw file "device" on the same disk, streamed (`installed-directly`)
// by the raw handler. Debian's build verifies a CMS-signed sw-description and the hardware
// revision (-H). Its raw handler does not fsync, so the timed step is `swupdate -i` followed
// by `sync SLOT` (fsync of the slot file): the same durability dd conv=fsync and slotflip give.
//   node --import tsx bench/swupdate.ts [--size 256M] [--runs 3] [--json FILE]

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, linkSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import * as path from 'node:path';
import { compareInstalls } from './lib/compare.js';
import { emit, skipped, spread } from './lib/metric.js';
import { makePki, type Pki } from './lib/pki.js';
import { debianVersion, hasTool, runTimed } from './lib/system.js';

const NAME = 'install-vs-swupdate';
const LABEL = `swupdate -i (${debianVersion('swupdate') ?? 'version unknown'}, raw, streamed) + fsync`;
const missing = ['swupdate', 'cpio', 'openssl', 'sync'].filter((t) => !hasTool(t));

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

/** The .swu: a newc-with-CRC cpio of sw-description, its CMS signature, then the image. */
async function makeSwu(dir: string, image: string, slot: string, pki: Pki): Promise<string> {
  linkSync(image, path.join(dir, 'rootfs.img'));
  const description = [
    'software =',
    '{',
    '\tversion = "2.0.0";',
    '\thardware-compatibility: [ "1.0" ];',
    '\timages: (',
    '\t\t{',
    '\t\t\tfilename = "rootfs.img";',
    `\t\t\tdevice = "${slot}";`,
    '\t\t\ttype = "raw";',
    '\t\t\tinstalled-directly = true;',
    `\t\t\tsha256 = "${await sha256(image)}";`,
    '\t\t}',
    '\t);',
    '}',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'sw-description'), description);
  await runTimed('openssl', ['cms', '-sign', '-in', path.join(dir, 'sw-description'), '-out', path.join(dir, 'sw-description.sig'), '-signer', pki.cert, '-inkey', pki.key, '-outform', 'DER', '-nosmimecap', '-binary']);
  const swu = path.join(dir, 'update.swu');
  const cpio = spawn('cpio', ['-o', '-H', 'crc'], { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] });
  const written = pipeline(cpio.stdout!, createWriteStream(swu));
  cpio.stdin!.end('sw-description\nsw-description.sig\nrootfs.img\n');
  const [code] = (await once(cpio, 'exit')) as [number | null];
  await written;
  if (code !== 0) throw new Error(`cpio exited with ${code}`);
  return swu;
}

if (missing.length) {
  console.log(`${NAME}: skipped, not installed: ${missing.join(', ')} (Debian: apt-get install swupdate cpio openssl)`);
  emit([skipped(NAME, 'MiB/s', LABEL, `not installed: ${missing.join(', ')}`)]);
} else {
  let swu = '';
  let ca = '';
  let slot = '';
  const unsynced: number[] = [];
  const row = await compareInstalls({
    name: NAME,
    argv: process.argv,
    other: {
      label: LABEL,
      async setup(work, image) {
        const dir = path.join(work, 'swupdate');
        mkdirSync(dir);
        const pki = await makePki(dir);
        ca = pki.caCert;
        slot = path.join(work, 'swupdate-slot.img');
        swu = await makeSwu(dir, image, slot, pki);
      },
      async run() {
        writeFileSync(slot, ''); // a fresh, empty slot file each run, as the others get
        const install = await runTimed('swupdate', ['-H', 'bench:1.0', '--ca-path', ca, '-i', swu]);
        if (!/SWUPDATE successful/.test(install.stdout + install.stderr)) throw new Error(`swupdate did not report success: ${install.stderr.slice(-500)}`);
        const flush = await runTimed('sync', [slot]);
        if (statSync(slot).size !== statSync(path.join(path.dirname(swu), 'rootfs.img')).size) throw new Error('swupdate left the slot short of the image');
        unsynced.push(install.seconds);
        return install.seconds + flush.seconds;
      },
    },
  });
  if (unsynced.length) row.note += `; swupdate -i alone (before fsync) s ${spread(unsynced, 2)}`;
  emit([row]);
}
