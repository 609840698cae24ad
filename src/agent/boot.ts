// What a fresh start of the agent means, read from the journal and the device: a trial boot
// of a new slot, a bootloader fallback, the end of our own rollback, a pending reboot, or an
// interrupted step to resume. Pure, so every combination is tested.

import type { Journal } from './journal.js';
import type { SlotState } from '../slots/model.js';
import type { AgentEvent } from './states.js';

export type BootAction =
  | { kind: 'event'; event: AgentEvent }
  /** The env is armed but the device never rebooted (agent restarted first): reboot now. */
  | { kind: 'reboot-pending' }
  /** Commit was decided before the restart: finish it (idempotent). */
  | { kind: 'finish-commit' }
  /** Rollback was decided but the device did not reboot yet. */
  | { kind: 'finish-rollback' }
  /** A download or the install step was interrupted: resume it. */
  | { kind: 'resume-download' }
  | { kind: 'none' };

export function classifyBoot(j: Journal, s: SlotState): BootAction {
  const { booted, primary, trial } = s;
  const rel = j.release;
  switch (j.state) {
    case 'download':
    case 'install':
      // A trial of the slot being written cannot be armed: prepareInstall disarmed it.
      return rel ? { kind: 'resume-download' } : { kind: 'event', event: 'failed' };
    case 'reboot':
    case 'trial':
      if (!rel) return trial && booted === primary ? { kind: 'event', event: 'booted-trial' } : { kind: 'event', event: 'failed' };
      if (booted === rel.target && trial && primary === rel.target) return { kind: 'event', event: 'booted-trial' };
      // Still armed but the old slot runs: with the count past the limit the bootloader fell
      // back without clearing the env (an altbootcmd that only boots the other slot does
      // that); otherwise the reboot never happened.
      if (booted === rel.from && trial && primary === rel.target) {
        return s.bootcount > s.bootlimit ? { kind: 'event', event: 'booted-fallback' } : { kind: 'reboot-pending' };
      }
      if (booted === rel.target && !trial) return { kind: 'finish-commit' };
      return { kind: 'event', event: 'booted-fallback' };
    case 'commit':
      return booted === rel?.target || !rel ? { kind: 'finish-commit' } : { kind: 'event', event: 'booted-fallback' };
    case 'rollback':
      if (rel && booted === rel.target) return { kind: 'finish-rollback' };
      return { kind: 'event', event: 'booted-rolled-back' };
    case 'idle':
      return trial && booted === primary ? { kind: 'event', event: 'booted-trial' } : { kind: 'none' };
  }
}
