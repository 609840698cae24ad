// install-vs-rauc: `slotflip install` beside `rauc install` (RAUC 1.8, Debian) of the same image
// into a raw file slot on the same disk. RAUC runs as it does on a device, a `rauc service` on
// D-Bus, here a private session bus (DBUS_STARTER_BUS_TYPE=session), with bootloader=noop and
// a plain bundle (verity bundles need device-mapper, absent here). Only the client's
// `rauc install` is timed; the service is up beforehand, as on a device.
//   node --import tsx bench/rauc.ts [--size 256M] [--runs 3] [--json FILE]

import { spawn, type ChildProcess } from 'node:child_process';
import { linkSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import * as path from 'node:path';
import { compareInstalls } from './lib/compare.js';
import { emit, skipped } from './lib/metric.js';
import { makePki } from './lib/pki.js';
import { debianVersion, hasTool, runTimed } from './lib/system.js';

const NAME = 'install-vs-rauc';
const LABEL = `rauc install (${debianVersion('rauc') ?? 'version unknown'}, plain bundle)`;
const missing = ['rauc', 'mksquashfs', 'dbus-daemon', 'openssl'].filter((t) => !hasTool(t));

/** Starts a private bus; resolves with its address once the daemon prints it. */
async function startBus(): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn('dbus-daemon', ['--session', '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] }); // its stderr: a harmless fd-limit warning
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
  return { child, address };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}

let bus: { child: ChildProcess; address: string } | undefined;
let service: ChildProcess | undefined;
let env: NodeJS.ProcessEnv = {};
let bundle = '';
let slotB = '';

if (missing.length) {
  console.log(`${NAME}: skipped, not installed: ${missing.join(', ')} (Debian: apt-get install rauc squashfs-tools dbus-daemon openssl)`);
  emit([skipped(NAME, 'MiB/s', LABEL, `not installed: ${missing.join(', ')}`)]);
} else {
  const row = await compareInstalls({
    name: NAME,
    argv: process.argv,
    other: {
      label: LABEL,
      async setup(work, image) {
        const dir = path.join(work, 'rauc');
        const content = path.join(dir, 'content');
        mkdirSync(content, { recursive: true });
        const pki = await makePki(dir);
        linkSync(image, path.join(content, 'rootfs.img'));
        writeFileSync(path.join(content, 'manifest.raucm'), '[update]\ncompatible=slotflip-bench\nversion=2.0.0\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.img\n');
        bundle = path.join(dir, 'update.raucb');
        await runTimed('rauc', ['bundle', '--cert', pki.cert, '--key', pki.key, content, bundle]);
        slotB = path.join(work, 'rauc-slot-b.img');
        writeFileSync(path.join(dir, 'slot-a.img'), '');
        const conf = path.join(dir, 'system.conf');
        writeFileSync(conf, [
          '[system]', 'compatible=slotflip-bench', 'bootloader=noop', `data-directory=${path.join(dir, 'data')}`, '',
          '[keyring]', `path=${pki.caCert}`, '',
          '[slot.rootfs.0]', `device=${path.join(dir, 'slot-a.img')}`, 'type=raw', 'bootname=A', '',
          '[slot.rootfs.1]', `device=${slotB}`, 'type=raw', 'bootname=B', '',
        ].join('\n'));
        mkdirSync(path.join(dir, 'mnt'));
        bus = await startBus();
        env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: bus.address, DBUS_STARTER_BUS_TYPE: 'session' };
        service = spawn('rauc', ['--conf', conf, '--mount', path.join(dir, 'mnt'), 'service', '--override-boot-slot=A'], { env, stdio: 'ignore' });
        // The service is ready once it answers on the bus.
        for (let i = 0; ; i++) {
          if (service.exitCode !== null) throw new Error(`rauc service exited with ${service.exitCode}`);
          if ((await runTimed('rauc', ['status'], { env }).then(() => true, () => false))) break;
          if (i > 100) throw new Error('rauc service did not come up on the private bus within 10 s');
          await delay(100);
        }
      },
      async run(_work, image) {
        // A fresh, empty slot file each run, as dd and slotflip get.
        writeFileSync(slotB, '');
        const seconds = (await runTimed('rauc', ['install', bundle], { env })).seconds;
        if (statSync(slotB).size !== statSync(image).size) throw new Error('rauc left the slot short of the image');
        return seconds;
      },
      async teardown() {
        await stop(service);
        await stop(bus?.child);
      },
    },
  });
  emit([row]);
}
