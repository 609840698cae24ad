// The boot-count rules of U-Boot's CONFIG_BOOTCOUNT_LIMIT, as a pure function of the env:
// the same decision the boards' boot scripts make, so the QEMU suite can check that real
// U-Boot and this simulator agree on every boot.

import { otherSlot, parseSlotName, type SlotName } from '../slots/model.js';

export interface BootDecision {
  /** The slot the bootloader starts. */
  slot: SlotName;
  /** Variables the bootloader saves before booting (one saveenv). */
  changes: Record<string, string>;
  /** True when the boot limit was passed and altbootcmd switched to the other slot. */
  fallback: boolean;
}

function count(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = raw.startsWith('0x') ? parseInt(raw.slice(2), 16) : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/**
 * upgrade_available=1: bootcount++, and past bootlimit run altbootcmd, which boots the other
 * slot and clears the trial (upgrade_available=0, bootcount=0). Otherwise boot the slot
 * variable's slot unchanged.
 */
export function decideBoot(env: Map<string, string>, slotVariable: string, defaultBootlimit: number): BootDecision {
  const slot = parseSlotName(env.get(slotVariable), `env variable ${slotVariable}`);
  if (env.get('upgrade_available') !== '1') return { slot, changes: {}, fallback: false };
  const bootcount = count(env.get('bootcount'), 0) + 1;
  const bootlimit = count(env.get('bootlimit'), defaultBootlimit);
  if (bootcount > bootlimit) {
    const alt = otherSlot(slot);
    return { slot: alt, changes: { [slotVariable]: alt, upgrade_available: '0', bootcount: '0' }, fallback: true };
  }
  return { slot, changes: { bootcount: String(bootcount) }, fallback: false };
}
