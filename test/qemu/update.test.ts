// Updates through the real agent in the guest, on one board ($SLOTFLIP_QEMU_BOARD): the operator
// publishes bundles of slot images over a host mosquitto; the agent downloads into the inactive
// slot, arms the trial in the env, reboots through the real bootloader and commits or rolls
// back. The scenarios share one disk, in sequence: refusals, commit (A→B), unhealthy worker,
// kernel panic fallback, power cuts (B→A), operator rollback (A→B); on arm64 also an update with
// -m 128M. The base image's data partition records slot A's release (qemu/image.ts), so the
// agent names the base version from the first boot.
// Every stop checks each boot against decideBoot and the env (fw_printenv) against the agent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QemuBoard } from '../../qemu/board.js';
import { BOARD, record, scenario } from './report.js';
import { GUEST_KEY, abandonPublish, deviceConfig, latest, makeBundle, publish, sendCommand, startOperator, type Operator } from './support/operator.js';
import { Device, RSS_LOOP, peakRssKiB } from './support/device.js';
import type { Variant } from '../../qemu/rootfs.js';

const KEEP = process.env['SLOTFLIP_QEMU_KEEP'] === '1';
const mips = BOARD.includes('mips');
const arm64 = BOARD.includes('arm64');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `slotflip-qemu-update-${BOARD}-`));
const DEVICE_ID = `dev-${BOARD}`;
/** Power-on to the agent's first report; MIPS emulation is the slowest. */
const ONLINE_MS = mips ? 300_000 : 180_000;
/** The worker's health window in the guest (Node starts slowly under emulation). */
const HEALTH_S = mips ? 90 : 30;
/** One publish: a whole slot image (125–170 MiB) through the guest's emulated NIC and Node. */
const PUBLISH_MS = 20 * 60_000;
const SCENARIO_MS = PUBLISH_MS + 5 * 60_000;

let board: QemuBoard;
let op: Operator;
let dev: Device;
/** What each slot holds once committed (the operator rollback goes back to one of them). */
const holds: Partial<Record<'a' | 'b', string>> = {};
const bootLine = (slot: string): RegExp => (mips ? new RegExp(`^slotflip-firststage: booting slot ${slot}$`, 'm') : new RegExp(`^slotflip-boot: booting slot ${slot} from`, 'm'));

before(async () => {
  const t0 = Date.now();
  op = await startOperator(dir, DEVICE_ID);
  board = await QemuBoard.create({
    board: BOARD, dir, version: '1.0.0',
    deviceConfig: deviceConfig(BOARD, DEVICE_ID, HEALTH_S),
    files: { [GUEST_KEY]: op.publicKeyPem },
  });
  dev = new Device(board, op);
  record({ board: BOARD, scenario: 'update-base-image', status: 'pass', seconds: (Date.now() - t0) / 1000, figures: { ...board.image.timings } });
});

after(async () => {
  await dev?.vm?.kill();
  await op?.close();
  if (KEEP) console.log(`kept ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

/** A scenario whose failure leaves no guest running for the next one. */
function step(name: string, body: (fig: Record<string, unknown>) => Promise<void>): Promise<void> {
  return scenario(name, async (fig) => {
    try {
      await body(fig);
    } catch (err) {
      await dev?.vm?.kill();
      if (dev) dev.vm = undefined;
      throw err;
    }
  });
}

/** A bundle of a slot image of `version` (and variant) built from the board's recipe. */
async function bundleOf(version: string, variant: Variant = 'good', fig?: Record<string, unknown>): Promise<string> {
  const t0 = Date.now();
  const slot = await board.buildSlot({ version, variant });
  const bundle = await makeBundle({ board: BOARD, version, image: slot.image, privateKey: op.privateKey, out: path.join(dir, `bundle-${version}.sfb`) });
  fs.rmSync(slot.image, { force: true });
  if (fig) {
    fig['bundleSeconds'] = (Date.now() - t0) / 1000;
    fig['bundleMiB'] = Math.round(fs.statSync(bundle).size / (1 << 20));
  }
  return bundle;
}

test(`${BOARD}: refusals change nothing: an untrusted signature, a bundle for another board`, { timeout: ONLINE_MS + 10 * 60_000 }, () =>
  step('refusals', async (fig) => {
    const t0 = Date.now();
    dev.start('refusals');
    const first = await dev.online(ONLINE_MS, 'a');
    fig['agentOnlineSeconds'] = (Date.now() - t0) / 1000;
    assert.equal(first.version, '1.0.0', 'the base image records what slot A holds');
    assert.match(dev.vm!.console, /feeding the hardware watchdog \/dev\/watchdog every 1000 ms/);
    const envBefore = await board.env();
    const bDigest = dev.slotDigest('b');

    const small = path.join(dir, 'small.img');
    fs.writeFileSync(small, Buffer.alloc(4 << 20, 7));
    const rogue = await makeBundle({ board: BOARD, version: '9.0.0', image: small, privateKey: op.untrustedKey, out: path.join(dir, 'rogue.sfb') });
    const r1 = await publish(op, rogue, 5 * 60_000);
    assert.equal(r1.outcomes.get(DEVICE_ID), 'failed');
    const refused = latest(op)!;
    assert.equal(refused.lastError?.code, 'SF_ERR_UNTRUSTED_KEY');
    assert.deepEqual({ slot: refused.slot, state: refused.state, progress: refused.progress }, { slot: first.slot, state: 'idle', progress: null });

    const other = await makeBundle({ board: 'some-other-board', version: '9.0.0', image: small, privateKey: op.privateKey, out: path.join(dir, 'other.sfb') });
    const r2 = await publish(op, other, mips ? 20_000 : 10_000);
    assert.equal(r2.outcomes.get(DEVICE_ID), 'timeout', 'a bundle for another board is not announced to this device');
    const s = latest(op)!;
    assert.deepEqual({ slot: s.slot, state: s.state, progress: s.progress, lastResult: s.lastResult }, { slot: first.slot, state: 'idle', progress: null, lastResult: refused.lastResult });

    assert.deepEqual(await board.env(), envBefore, 'the env is unchanged');
    assert.equal(dev.slotDigest('b'), bDigest, 'slot B is unchanged');
    await dev.stop();
    assert.deepEqual(await board.env(), envBefore);
  }),
);

test(`${BOARD}: publish of version 2: download into slot B, reboot, the bootloader boots B, worker healthy, committed`, { timeout: SCENARIO_MS }, () =>
  step('update-commit', async (fig) => {
    const bundle = await bundleOf('2.0.0', 'good', fig);
    await dev.ensureRunning('commit', ONLINE_MS);
    const vm = dev.vm!;
    const from = vm.console.length;
    vm.send(RSS_LOOP);
    const t0 = Date.now();
    const r = await publish(op, bundle, PUBLISH_MS);
    fig['publishSeconds'] = (Date.now() - t0) / 1000;
    fig['bytesSent'] = r.bytesSent;
    assert.equal(r.outcomes.get(DEVICE_ID), 'committed');
    await vm.waitFor(bootLine('b'), 1000, { from });
    const rss = peakRssKiB(vm.console.slice(from));
    if (rss !== undefined) fig['agentPeakRssKiB'] = rss;
    const s = latest(op)!;
    assert.deepEqual({ slot: s.slot, version: s.version }, { slot: 'b', version: '2.0.0' });
    holds.b = '2.0.0';
    const env = await dev.stop();
    assert.deepEqual({ slot: env[dev.slotVariable], ua: env['upgrade_available'] }, { slot: 'b', ua: '0' });
  }),
);

test(`${BOARD}: an update whose worker never becomes healthy is rolled back by the agent`, { timeout: SCENARIO_MS }, () =>
  step('unhealthy-rollback', async (fig) => {
    const bundle = await bundleOf('3.0.0', 'unhealthy-worker', fig);
    const before = await dev.ensureRunning('unhealthy', ONLINE_MS);
    const t0 = Date.now();
    const r = await publish(op, bundle, PUBLISH_MS);
    fig['publishSeconds'] = (Date.now() - t0) / 1000;
    assert.equal(r.outcomes.get(DEVICE_ID), 'rolled-back');
    const s = await dev.online(ONLINE_MS, before.slot ?? undefined);
    assert.deepEqual({ slot: s.slot, version: s.version }, { slot: before.slot, version: before.version }, 'runs the previous version');
    assert.equal(s.lastError?.code, 'SF_ERR_WORKER_UNHEALTHY');
    await dev.vm!.waitFor(bootLine(before.slot === 'a' ? 'b' : 'a'), 1000, { from: 0 });
    await dev.stop();
  }),
);

test(`${BOARD}: an update whose kernel panics: the bootloader counts past the limit and boots the old slot; the agent reports the fallback`, { timeout: SCENARIO_MS }, () =>
  step('panic-fallback-update', async (fig) => {
    const bundle = await bundleOf('4.0.0', 'panic', fig);
    const before = await dev.ensureRunning('panic', ONLINE_MS);
    const vm = dev.vm!;
    const from = vm.console.length;
    const t0 = Date.now();
    const publishing = publish(op, bundle, PUBLISH_MS);
    try {
      const limit = board.profile.bootloader.bootlimit;
      const stage = mips ? 'slotflip-firststage' : 'slotflip-boot';
      const fell = await vm.waitFor(new RegExp(`^${stage}: bootcount ${limit + 1} > bootlimit ${limit}: altbootcmd, booting slot ${before.slot}$`, 'm'), PUBLISH_MS, { from });
      fig['fallbackLine'] = fell.match[0];
      fig['fallbackSeconds'] = (Date.now() - t0) / 1000;
      // After the bootloader's fallback the agent must report it, not reboot into the trial again.
      const loop = vm.waitFor(/ journal reboot: reboot-pending\n/, PUBLISH_MS, { from: fell.match.index });
      loop.catch(() => undefined);
      const first = await Promise.race([publishing.then(() => 'outcome'), loop.then(() => 'reboot-loop')]);
      if (first === 'reboot-loop') {
        await abandonPublish(op, bundle, BOARD);
        // So that the scenarios after this one can run: the env as decideBoot's altbootcmd
        // (the simulator) leaves it, which the agent does read as a fallback.
        await dev.stop({ cut: true, checkEnv: false });
        await board.setEnv({ [dev.slotVariable]: before.slot!, upgrade_available: '0', bootcount: '0' });
        fig['envRepairedAfterFailure'] = true;
        throw new Error(
          `after the bootloader fell back to slot ${before.slot}, the agent took the boot for an armed trial that never rebooted ` +
            `("reboot-pending") and rebooted again: a reboot loop. The boot script leaves ${dev.slotVariable} and upgrade_available ` +
            `as they were (bootcount > bootlimit), which classifyBoot (src/agent/boot.ts) cannot tell from a pending reboot.`,
        );
      }
      const r = await publishing;
      fig['publishSeconds'] = (Date.now() - t0) / 1000;
      fig['resets'] = vm.resets;
      assert.equal(r.outcomes.get(DEVICE_ID), 'fallback');
    } finally {
      await publishing.catch(() => undefined);
    }
    const s = await dev.online(ONLINE_MS, before.slot ?? undefined);
    assert.equal(s.version, before.version);
    await dev.stop();
  }),
);

test(`${BOARD}: power cuts mid-download and right after the env write: the device boots a good slot, the download resumes, the update commits`, { timeout: SCENARIO_MS + 3 * ONLINE_MS }, () =>
  step('power-cut-update', async (fig) => {
    const bundle = await bundleOf('5.0.0', 'good', fig);
    const before = await dev.ensureRunning('powercut', ONLINE_MS);
    const old = before.slot!;
    const target = old === 'a' ? 'b' : 'a';
    const t0 = Date.now();
    const publishing = publish(op, bundle, PUBLISH_MS);
    try {
      // Cut 1: half the chunks are in.
      const mid = await dev.waitStatus((s) => s.state === 'download' && !!s.progress && s.progress.total > 0 && s.progress.received * 2 >= s.progress.total, PUBLISH_MS, 'half the download');
      const durable = mid.progress!.bytes;
      fig['cut1AtBytes'] = durable;
      fig['cut1AtSeconds'] = (Date.now() - t0) / 1000;
      let env = await dev.stop({ cut: true });
      assert.deepEqual({ slot: env[dev.slotVariable], ua: env['upgrade_available'] }, { slot: old, ua: '0' }, 'nothing armed mid-download');

      // Back on the old slot, the agent resumes from what was durable.
      const vm = dev.start('powercut-resume');
      const resumed = await dev.waitStatus((s) => s.online && s.state === 'download' && s.progress != null, ONLINE_MS + 120_000, 'the download to resume');
      assert.equal(resumed.slot, old, 'the device boots the good (old) slot');
      fig['resumedAtBytes'] = resumed.progress!.bytes;
      assert.ok(resumed.progress!.bytes >= durable, `resumed at ${resumed.progress!.bytes} bytes, ${durable} were durable at the cut`);

      // Cut 2: the agent has armed the trial in the env and is about to reboot.
      await vm.waitFor(/ install --armed--> reboot\n/, PUBLISH_MS);
      fig['cut2AtSeconds'] = (Date.now() - t0) / 1000;
      env = await dev.stop({ cut: true });
      assert.deepEqual({ slot: env[dev.slotVariable], ua: env['upgrade_available'] }, { slot: target, ua: '1' }, 'the trial was armed before the cut');

      // Power on: the bootloader boots the armed slot, the trial passes, the update commits.
      const last = dev.start('powercut-trial');
      const r = await publishing;
      fig['publishSeconds'] = (Date.now() - t0) / 1000;
      fig['bytesSent'] = r.bytesSent;
      assert.equal(r.outcomes.get(DEVICE_ID), 'committed');
      await last.waitFor(bootLine(target), 1000, { from: 0 });
      const s = await dev.online(ONLINE_MS, target);
      assert.equal(s.version, '5.0.0');
      holds[target] = '5.0.0';
      env = await dev.stop();
      assert.deepEqual({ slot: env[dev.slotVariable], ua: env['upgrade_available'] }, { slot: target, ua: '0' });
    } finally {
      await publishing.catch(() => undefined);
    }
  }),
);

test(`${BOARD}: a signed rollback command from the operator returns the device to the previous slot`, { timeout: 2 * ONLINE_MS + 5 * 60_000 }, () =>
  step('operator-rollback', async (fig) => {
    const before = await dev.ensureRunning('rollback', ONLINE_MS);
    const back = before.slot === 'a' ? 'b' : 'a';
    assert.ok(holds[back], `slot ${back} holds a committed release to go back to`);
    const t0 = Date.now();
    await sendCommand(op, 'rollback');
    const s = await dev.waitStatus((x) => x.online && x.state === 'idle' && x.slot === back && x.lastResult?.result === 'rolled-back', ONLINE_MS + 120_000, `the rollback to slot ${back}`);
    fig['rollbackSeconds'] = (Date.now() - t0) / 1000;
    assert.equal(s.version, holds[back]);
    const env = await dev.stop();
    assert.equal(env[dev.slotVariable], back);
  }),
);

test(`${BOARD}: one full-slot update in a guest with -m 128M`, { skip: !arm64 && 'the 128M run is the arm64 board only', timeout: SCENARIO_MS }, () =>
  step('update-128M', async (fig) => {
    const bundle = await bundleOf('6.0.0', 'good', fig);
    if (dev.vm) await dev.stop();
    const t0 = Date.now();
    const vm = dev.start('128M', '128M');
    const before = await dev.online(ONLINE_MS);
    fig['agentOnlineSeconds'] = (Date.now() - t0) / 1000;
    const mem = await vm.sh("sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo");
    fig['memTotalKiB'] = Number(mem.output.trim().split('\n').at(-1));
    assert.ok((fig['memTotalKiB'] as number) < 128 * 1024, `MemTotal ${mem.output}`);
    const from = vm.console.length;
    vm.send(RSS_LOOP);
    const t1 = Date.now();
    const r = await publish(op, bundle, PUBLISH_MS);
    fig['publishSeconds'] = (Date.now() - t1) / 1000;
    assert.equal(r.outcomes.get(DEVICE_ID), 'committed');
    const rss = peakRssKiB(vm.console.slice(from));
    if (rss !== undefined) fig['agentPeakRssKiB'] = rss;
    const s = latest(op)!;
    assert.deepEqual({ slot: s.slot, version: s.version }, { slot: before.slot === 'a' ? 'b' : 'a', version: '6.0.0' });
    await dev.stop();
  }),
);

test(`${BOARD}: every boot matched decideBoot; every stop's fw_printenv matched the agent`, () =>
  scenario('env-agrees', async (fig) => {
    fig['bootsChecked'] = dev.bootsChecked;
    fig['envChecks'] = dev.envChecks;
    assert.ok(dev.bootsChecked > 0 && dev.envChecks > 0, `${dev.bootsChecked} boots, ${dev.envChecks} env checks`);
  }),
);
