// Ending a trial: commit (the booted slot is good: one env write clearing the counters) or
// roll back (one env write pointing the bootloader at the other, verified slot).

import { SlotStateError } from '../slots/errors.js';
import { otherSlot, type SlotName } from '../slots/model.js';
import { readDevice, type Device } from './device.js';

export interface CommitResult {
  slot: SlotName;
  version: string | undefined;
  /** False when there was no trial to end (already committed). */
  changed: boolean;
}

export async function markGood(dev: Device): Promise<CommitResult> {
  const view = await readDevice(dev);
  const { booted, primary, trial } = view.slots;
  if (primary !== booted) {
    throw new SlotStateError(`cannot commit: running slot ${booted} but the env points at ${primary}`, { details: { booted, primary } });
  }
  const record = view.state.slots[booted];
  const changed = trial || view.slots.bootcount !== 0 || view.state.committed !== booted;
  if (trial || view.slots.bootcount !== 0) await dev.env.update({ upgrade_available: '0', bootcount: '0' });
  if (view.state.committed !== booted || (record && record.securityVersion > view.state.securityFloor)) {
    await dev.state.update((s) => {
      s.committed = booted;
      if (record) s.securityFloor = Math.max(s.securityFloor, record.securityVersion);
    });
  }
  return { slot: booted, version: record?.version, changed };
}

export interface RollbackResult {
  from: SlotName;
  to: SlotName;
  version: string | undefined;
  /** True when the device must reboot for the rollback to take effect. */
  needsReboot: boolean;
}

/**
 * Points the env back at the previous slot. With a trial armed but not yet booted, that is
 * the booted slot (disarm, no reboot needed); otherwise the other slot, which must hold a
 * verified release.
 */
export async function rollback(dev: Device, opts: { trialFailed?: boolean } = {}): Promise<RollbackResult> {
  const view = await readDevice(dev);
  const { booted, primary } = view.slots;
  if (primary !== booted) {
    await dev.env.update({ [dev.config.slotVariable]: booted, upgrade_available: '0', bootcount: '0' });
    return { from: primary, to: booted, version: view.state.slots[booted]?.version, needsReboot: false };
  }
  const to = otherSlot(booted);
  const record = view.state.slots[to];
  // A failed trial goes back to the slot it came from even if that slot was never recorded
  // (a base image flashed without a state file): it booted fine before this update.
  if (!record && !(opts.trialFailed && view.slots.trial)) {
    throw new SlotStateError(`cannot roll back: slot ${to} holds no verified release`, { details: { slot: to } });
  }
  if (record && record.securityVersion < view.state.securityFloor) {
    throw new SlotStateError(`cannot roll back: slot ${to} (security version ${record.securityVersion}) is below the floor ${view.state.securityFloor}`);
  }
  await dev.env.update({ [dev.config.slotVariable]: to, upgrade_available: '0', bootcount: '0' });
  return { from: booted, to, version: record?.version, needsReboot: true };
}
