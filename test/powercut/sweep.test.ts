import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBootEnv } from '../../src/bootenv/index.js';
import { downloadResume, FLOWS, installCommit, type Flow } from './flows.js';
import { NeverBrickViolation, Rig } from './rig.js';
import { sweepFlow, type FlowReport } from './sweep.js';
import { getWorld, LAYOUT } from './world.js';

function summary(r: FlowReport): string {
  return `${r.name}: ${r.cutPoints} cut points over ${r.calls} calls (${r.distinctDisks} distinct disks after the cut), ${r.violations} violations, ${r.ms} ms`;
}

function listViolations(r: FlowReport): string {
  return r.details.map((v) => `  k=${v.k} ${v.mode} at ${v.call}: ${v.phase}: ${v.message}`).join('\n');
}

for (const flow of FLOWS) {
  test(`power cut at every call leaves a bootable, resumable device: ${flow.name}`, flow.knownIssue ? { todo: flow.knownIssue } : {}, async (t) => {
    const r = await sweepFlow(flow, await getWorld());
    t.diagnostic(summary(r));
    assert.ok(r.calls >= 30, `the flow made only ${r.calls} disk-changing calls`);
    assert.ok(r.cutPoints > r.calls, 'every call is cut at least in mode lose, and writes and syncs torn too');
    assert.equal(r.violations, 0, `${flow.summary}\n${listViolations(r)}`);
  });
}

test('the download flow resumes from the bitmap: after the cut at the 7th chunk it fetches only the 12 not yet synced', async () => {
  const rig = Rig.fresh(await getWorld());
  await downloadResume.run(rig);
  await downloadResume.check(rig);
  assert.deepEqual(rig.lastDownload, { resumed: 4, fetched: 12 });
});

test(
  'a release downloaded again after its slot was rewritten is fetched again, not trusted from an old bitmap',
  async () => {
    const rig = Rig.fresh(await getWorld());
    const { v1, v2, v3 } = rig.world;
    const untilFallback = async (): Promise<void> => {
      let boot = await rig.reboot();
      while (boot.release !== v1) boot = await rig.reboot(); // the trial never gets healthy
    };
    await rig.powerOn();
    rig.fs.planCut((c) => c.op === 'unlink' && c.path.endsWith('.bitmap')); // power lost right after the trial was armed
    await assert.rejects(rig.download(v2, undefined, undefined, { fresh: true }), (e: unknown) => rig.fs.cutWasPlanned && e instanceof Error);
    await untilFallback(); // v2 fails its trial: back on v1, slot b still holds v2, its bitmap is still there
    await rig.download(v3, undefined, undefined, { fresh: true }); // slot b now holds v3
    await untilFallback();
    await rig.powerOn();
    // v2 is offered again: its old bitmap claims every chunk of slot b, so the agent drops it.
    await rig.download(v2, undefined, undefined, { fresh: true });
    assert.equal((await rig.reboot()).release, v2);
  },
);

// The controls: a sweep that cannot fail proves nothing, so each of these must find violations.

test('control: a single-copy env torn by a cut leaves no valid env, and the sweep says so', async (t) => {
  const r = await sweepFlow(installCommit, await getWorld(1), { modes: ['torn'] });
  t.diagnostic(summary(r));
  assert.ok(r.violations > 0);
  for (const v of r.details) {
    assert.match(v.call, /(write|sync) \/dev\/uboot-env/);
    assert.match(v.message, /no env copy has a valid CRC/);
  }
});

/** An installer that arms the trial before its slot data is on the disk. */
const armsTooEarly: Flow = {
  name: 'arms-too-early',
  summary: 'arm the env, then write and fdatasync the slot',
  async run(rig) {
    const { v2 } = rig.world;
    const boot = await rig.powerOn();
    if (boot.release !== v2) {
      await openBootEnv(rig.config.env, rig.fs).update({ slotflip_slot: 'b', upgrade_available: '1', bootcount: '0' });
      const fh = await rig.fs.open(LAYOUT.slotB, 'update');
      for (let at = 0; at < v2.image.length; at += LAYOUT.bufferSize) await fh.write(v2.image.subarray(at, at + LAYOUT.bufferSize), at);
      await fh.datasync();
      await fh.close();
      await rig.reboot();
    }
    await openBootEnv(rig.config.env, rig.fs).update({ upgrade_available: '0', bootcount: '0' });
  },
  async check() {},
};

test('control: arming the trial before the slot is synced is caught at the cut points in between', async (t) => {
  const r = await sweepFlow(armsTooEarly, await getWorld(), { modes: ['lose'] });
  t.diagnostic(summary(r));
  const ks = r.details.map((v) => v.k);
  assert.ok(r.violations >= 17, listViolations(r)); // the 16 slot writes and the fdatasync
  assert.ok(r.details.every((v) => v.phase === 'boot' && /picks slot b, which holds no verified image/.test(v.message)));
  assert.deepEqual(ks, [...Array(ks.length).keys()].map((i) => ks[0]! + i), 'a contiguous run of calls, from the env sync to the slot fdatasync');
});

test('control: a download whose sink does not really sync before the bitmap is saved cannot resume', async (t) => {
  const trustsTooEarly: Flow = {
    ...downloadResume,
    name: 'bitmap-before-data',
    async run(rig) {
      const boot = await rig.powerOn();
      if (boot.release !== rig.world.v2) {
        await rig.download(rig.world.v2, undefined, (sink) => ({ ...sink, sync: async () => undefined }));
        const fh = await rig.fs.open(LAYOUT.slotB, 'update');
        await fh.datasync(); // late, after the trial was armed, but the uncut run is sound
        await fh.close();
        await rig.reboot();
      }
      await rig.markGood();
    },
  };
  const r = await sweepFlow(trustsTooEarly, await getWorld(), { modes: ['lose'] });
  t.diagnostic(summary(r));
  assert.ok(r.violations > 0);
  // Resumed chunks that were never durable fail the read-back; and since finishInstall arms the
  // trial without an fdatasync of its own, a cut after arming boots a slot that is not there.
  assert.ok(r.details.some((v) => v.phase === 'rerun' && /reads back as sha256/.test(v.message)), listViolations(r));
  assert.ok(r.details.every((v) => /reads back as sha256|picks slot b, which holds no verified image/.test(v.message)), listViolations(r));
});

test('control: a flow whose own run bricks the device fails the count run', async () => {
  const noSync: Flow = {
    ...armsTooEarly,
    name: 'no-sync',
    async run(rig) {
      await rig.powerOn();
      await openBootEnv(rig.config.env, rig.fs).update({ slotflip_slot: 'b', upgrade_available: '1', bootcount: '0' });
      const fh = await rig.fs.open(LAYOUT.slotB, 'update');
      await fh.write(rig.world.v2.image, 0); // never synced: the reboot loses it
      await rig.reboot();
    },
  };
  await assert.rejects(sweepFlow(noSync, await getWorld()), NeverBrickViolation);
});
