// The foundation of the QEMU suite, on one board ($SLOTFLIP_QEMU_BOARD): the built image boots
// through the real bootloader (U-Boot, or the MIPS first stage) into slot A; Node 18 runs the
// device bundle in the guest; the guest reaches the host only through the broker forward; a slot
// whose init panics, and one that hangs until the watchdog fires, make the board fall back to
// the other slot by the bootloader's own counting; fw_printenv on the host sees the env it left.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QemuBoard } from '../../qemu/board.js';
import type { Vm } from '../../qemu/vm.js';
import { BOARD, record, scenario } from './report.js';

const KEEP = process.env['SLOTFLIP_QEMU_KEEP'] === '1';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `slotflip-qemu-${BOARD}-`));
let board: QemuBoard;
let echo: Server;
let echoPort = 0;
const vms: Vm[] = [];
const mips = BOARD.includes('mips');
/** Per boot through the bootloader to the slot's init; MIPS emulation is the slowest. */
const BOOT_MS = mips ? 120_000 : 90_000;

function start(name: string, memory?: string): Vm {
  const vm = board.start({ name, brokerPort: echoPort, ...(memory ? { memory } : {}) });
  vms.push(vm);
  return vm;
}

before(async () => {
  echo = createServer((s) => s.on('data', (d) => s.write(`echo:${d}`)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
  const t0 = Date.now();
  board = await QemuBoard.create({ board: BOARD, dir, version: '1.0.0' });
  record({ board: BOARD, scenario: 'build-base-image', status: 'pass', seconds: (Date.now() - t0) / 1000, figures: { ...board.image.timings, slotMiB: board.image.slotA.bytes >> 20 } });
});

// A failed scenario must not leave its guest holding the disk (QEMU's write lock) for the next.
afterEach(async () => {
  for (const vm of vms.splice(0)) await vm.kill();
});

after(async () => {
  for (const vm of vms) await vm.kill();
  echo?.close();
  if (KEEP) console.log(`kept ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

// Matched while output is still arriving: every pattern ends in text that follows its capture.
const bootMarker = (slot: string): RegExp => new RegExp(`^SLOTFLIP-BOOTED slot=${slot} version=(\\S+) board=`, 'm');
const bootLine = (slot: string): RegExp => (mips ? new RegExp(`^slotflip-firststage: booting slot ${slot}$`, 'm') : new RegExp(`^slotflip-boot: booting slot ${slot} from`, 'm'));

test(`${BOARD}: first boot reaches slot A through the bootloader; Node 18 runs the device bundle`, { timeout: BOOT_MS + 240_000 }, () =>
  scenario('first-boot', async (fig) => {
    const vm = start('first-boot');
    if (!mips) await vm.waitFor(/^U-Boot 20\d\d\.\d\d/m, 30_000);
    await vm.waitFor(bootLine('a'), BOOT_MS);
    const booted = await vm.waitFor(bootMarker('a'), BOOT_MS);
    fig['bootSeconds'] = booted.atMs / 1000;
    assert.equal(booted.match[1], '1.0.0');
    await vm.waitFor(/slotflip# /, 30_000);

    const cmdline = await vm.sh('cat /proc/cmdline');
    assert.match(cmdline.output, /(^|\s)slotflip\.slot=a(\s|$)/, 'the agent learns the booted slot from /proc/cmdline');
    const t0 = Date.now();
    const version = await vm.sh('node -p process.version', 120_000);
    fig['nodeStartSeconds'] = (Date.now() - t0) / 1000;
    assert.equal(version.code, 0);
    assert.match(version.output, /^v18\./m);
    const help = await vm.sh('node /usr/lib/slotflip/slotflip.mjs --help', 180_000);
    assert.equal(help.code, 0, help.output);
    assert.match(help.output, /usage: slotflip <command>/);

    // Manifest expiry checks need a real clock: the RTC (PL031, CMOS) gives the host's time.
    const clock = await vm.sh('date +%s');
    assert.ok(Math.abs(Number(clock.output.trim().split('\n').at(-1)) - Date.now() / 1000) < 300, `guest clock ${clock.output}`);

    // Linux sees the env the bootloader uses, through the guest's /etc/fw_env.config.
    const guestEnv = await vm.sh('fw_printenv slotflip_slot upgrade_available', 60_000);
    assert.equal(guestEnv.code, 0, guestEnv.output);
    assert.match(guestEnv.output, /^slotflip_slot=a$/m);
    assert.match(guestEnv.output, /^upgrade_available=0$/m);
    const profile = await vm.sh(`test -f /usr/share/slotflip/board-profiles/${BOARD}.json`);
    assert.equal(profile.code, 0, 'the agent finds its board profile where src/board/profile.ts looks');

    // User networking with restrict=on: the forwarded broker address answers, the world does not.
    const fwd = await vm.sh('echo hello | nc -w 5 10.0.2.100 1883');
    assert.match(fwd.output, /echo:hello/);
    // Without restrict=on, 10.0.2.2 would reach the host's loopback, where the same server listens.
    const outside = await vm.sh(`echo hello | nc -w 3 10.0.2.2 ${echoPort}`, 30_000);
    assert.doesNotMatch(outside.output, /echo:hello/);

    await vm.kill();
    const env = await board.env();
    assert.deepEqual(
      { slot: env['slotflip_slot'], upgrade_available: env['upgrade_available'], bootcount: env['bootcount'] },
      { slot: 'a', upgrade_available: '0', bootcount: '0' },
      'a normal boot leaves the env as it was',
    );
  }),
);

/** Puts a broken slot B in place, marks it for a trial boot and waits for the fallback to A. */
async function fallback(variant: 'panic' | 'hang', fig: Record<string, unknown>, failureLine: RegExp): Promise<void> {
  const t0 = Date.now();
  const broken = await board.buildSlot({ version: `2.0.0-${variant}`, variant });
  await board.installSlot('b', broken);
  fig['slotBuildSeconds'] = (Date.now() - t0) / 1000;
  await board.setEnv({ slotflip_slot: 'b', upgrade_available: '1', bootcount: '0' });

  const vm = start(variant);
  const limit = Number((await board.env())['bootlimit']);
  assert.equal(limit, board.profile.bootloader.bootlimit);
  for (let i = 1; i <= limit; i++) {
    await vm.waitFor(bootLine('b'), BOOT_MS);
    await vm.waitFor(failureLine, BOOT_MS);
  }
  const fellBack = mips
    ? await vm.waitFor(new RegExp(`^slotflip-firststage: bootcount ${limit + 1} > bootlimit ${limit}: altbootcmd, booting slot a$`, 'm'), BOOT_MS)
    : await vm.waitFor(new RegExp(`^slotflip-boot: bootcount ${limit + 1} > bootlimit ${limit}: altbootcmd, booting slot a$`, 'm'), BOOT_MS);
  assert.ok(fellBack);
  const booted = await vm.waitFor(bootMarker('a'), BOOT_MS);
  fig['fallbackSeconds'] = booted.atMs / 1000;
  fig['resets'] = vm.resets;
  assert.equal(vm.resets, limit, `${limit} failed boots of slot b, each ending in a reset`);
  await vm.kill();

  const env = await board.env();
  // As the bootloader left them: the agent (not running here) is the one that clears them.
  assert.deepEqual(
    { slot: env['slotflip_slot'], upgrade_available: env['upgrade_available'], bootcount: env['bootcount'], bootlimit: env['bootlimit'] },
    { slot: 'b', upgrade_available: '1', bootcount: String(limit + 1), bootlimit: String(limit) },
  );
  await board.setEnv({ slotflip_slot: 'a', upgrade_available: '0', bootcount: '0' });
}

test(`${BOARD}: a slot whose init panics makes the bootloader fall back after bootlimit`, { timeout: 6 * BOOT_MS }, () =>
  scenario('panic-fallback', (fig) => fallback('panic', fig, /Kernel panic - not syncing: Attempted to kill init/)),
);

test(`${BOARD}: a slot that hangs is reset by the watchdog until the bootloader falls back`, { timeout: 8 * BOOT_MS }, () =>
  scenario('watchdog-fallback', (fig) => fallback('hang', fig, /^slotflip-init: broken image \(variant hang\)/m)),
);

test(`${BOARD}: a torn env write leaves the older copy in charge, for the bootloader and for fw_printenv`, { timeout: 2 * BOOT_MS }, () =>
  scenario('torn-env', async (fig) => {
    const copies = board.profile.env.copies;
    assert.equal(copies.length, 2, 'the board keeps a redundant env');
    await board.setEnv({ slotflip_slot: 'a', upgrade_available: '1', bootcount: '0' });
    await board.setEnv({ upgrade_available: '0' });
    // Tear the newer copy (the one fw_setenv just wrote): its CRC no longer matches.
    const fd = fs.openSync(board.image.disk, 'r+');
    const flags = copies.map((c) => {
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, c.offset + 4);
      return b[0]!;
    });
    const newer = ((flags[0]! - flags[1]!) & 0xff) < 0x80 && flags[0] !== flags[1] ? 0 : 1;
    fs.writeSync(fd, Buffer.alloc(64, 0xaa), 0, 64, copies[newer]!.offset + 64);
    fs.closeSync(fd);
    assert.equal((await board.env())['upgrade_available'], '1', 'fw_printenv falls back to the older copy');

    const vm = start('torn-env');
    if (!mips) await vm.waitFor(new RegExp(`^slotflip-boot: env copy ${2 - newer} \\(flags`, 'm'), BOOT_MS);
    await vm.waitFor(/upgrade_available=1 bootcount=0 bootlimit=3/, BOOT_MS);
    const booted = await vm.waitFor(bootMarker('a'), BOOT_MS);
    fig['bootSeconds'] = booted.atMs / 1000;
    await vm.kill();
    const env = await board.env();
    assert.deepEqual({ ua: env['upgrade_available'], bc: env['bootcount'] }, { ua: '1', bc: '1' }, 'the count went on from the intact copy');
    await board.setEnv({ slotflip_slot: 'a', upgrade_available: '0', bootcount: '0' });
  }),
);

test(`${BOARD}: with -m 128M the board still boots and Node 18 runs the device bundle`, { timeout: BOOT_MS + 240_000 }, () =>
  scenario('low-memory-128M', async (fig) => {
    const vm = start('128M', '128M');
    const booted = await vm.waitFor(bootMarker('a'), BOOT_MS);
    fig['bootSeconds'] = booted.atMs / 1000;
    await vm.waitFor(/slotflip# /, 30_000);
    const mem = await vm.sh("sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo");
    fig['memTotalKiB'] = Number(mem.output.trim().split('\n').at(-1));
    assert.ok(fig['memTotalKiB'] as number < 128 * 1024, `MemTotal ${mem.output}`);
    const help = await vm.sh('node /usr/lib/slotflip/slotflip.mjs --help', 180_000);
    assert.equal(help.code, 0, help.output);
    assert.match(help.output, /usage: slotflip <command>/);
    await vm.kill();
  }),
);
