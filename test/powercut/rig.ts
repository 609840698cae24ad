// One simulated device on a MemoryFs: power it on (the bootloader's decision with the
// simulator's rules, its saveenv through the seam), install a bundle, commit, roll back,
// reboot (a power cycle that keeps only what was synced), and tell what a slot holds.

import { Readable } from 'node:stream';
import { openBundle } from '../../src/bundle/index.js';
import { openBootEnv, type EnvVars } from '../../src/bootenv/index.js';
import { decodeImage } from '../../src/bootenv/uboot-format.js';
import { decideBoot } from '../../src/simulator/boot-rules.js';
import { openDevice, type Device } from '../../src/install/device.js';
import { installBundle } from '../../src/install/firmware.js';
import { markGood, rollback, type CommitResult, type RollbackResult } from '../../src/install/commit.js';
import { otherSlot, type SlotName } from '../../src/slots/model.js';
import { MemoryFs } from '../support/memory-fs.js';
import { LAYOUT, type Release, type World } from './world.js';

/** The device cannot boot a verified image: what the sweep exists to find. */
export class NeverBrickViolation extends Error {
  override name = 'NeverBrickViolation';
}

export interface BootReport {
  slot: SlotName;
  /** What the booted slot holds (undefined never leaves powerOn: that is a violation). */
  release: Release;
  trial: boolean;
  fallback: boolean;
}

export class Rig {
  private readBuffer: Buffer | undefined;

  constructor(
    public fs: MemoryFs,
    readonly world: World,
  ) {}

  /** A device in the world's initial state, on a machine of its own. */
  static fresh(world: World): Rig {
    return new Rig(world.image.clone(), world);
  }

  get config() {
    return this.world.config;
  }

  /** A new view of the device on the current machine (a power cycle makes old ones unusable). */
  device(): Device {
    return openDevice(this.config, this.fs);
  }

  /**
   * Which verified release the first bytes of `slot` are, if any. Compares bytes with the
   * image whose SHA-256 the signed manifest holds: the same verdict as hashing, cheaper.
   */
  async slotRelease(slot: SlotName): Promise<Release | undefined> {
    const longest = Math.max(...this.world.verified.map((r) => r.image.length));
    const buf = (this.readBuffer ??= Buffer.allocUnsafe(longest));
    const fh = await this.fs.open(this.config.slots[slot].device, 'read');
    let got = 0;
    try {
      for (let n = -1; got < longest && n !== 0; got += n) n = await fh.read(buf, got, longest - got, got);
    } finally {
      await fh.close();
    }
    return this.world.verified.find((r) => got >= r.image.length && buf.subarray(0, r.image.length).equals(r.image));
  }

  /** How many env copies pass their CRC, read straight from the device. */
  async validEnvCopies(): Promise<number> {
    const copies = this.config.env.backend === 'uboot' ? this.config.env.copies : [];
    const dev = await this.fs.readFile(LAYOUT.env);
    return copies.filter((c) => decodeImage(dev.subarray(c.offset, c.offset + c.size), copies.length === 2).crcOk).length;
  }

  /**
   * What the bootloader would do now, and the never-brick checks on it: an env copy is valid,
   * the slot it picks holds a verified image, and during a trial so does the fallback slot.
   * Returns the violations (empty when the device is safe).
   */
  async bootability(): Promise<{ violations: string[]; env?: EnvVars; slot?: SlotName }> {
    const violations: string[] = [];
    const valid = await this.validEnvCopies();
    if (valid === 0) violations.push('no env copy has a valid CRC');
    let env: EnvVars;
    try {
      env = await openBootEnv(this.config.env, this.fs).read();
    } catch (err) {
      violations.push(`the env cannot be read: ${(err as Error).message}`);
      return { violations };
    }
    let slot: SlotName;
    try {
      slot = decideBoot(env, this.config.slotVariable, this.config.bootlimit).slot;
    } catch (err) {
      violations.push(`the bootloader cannot decide: ${(err as Error).message}`);
      return { violations, env };
    }
    if (!(await this.slotRelease(slot))) violations.push(`the bootloader picks slot ${slot}, which holds no verified image`);
    if (env.get('upgrade_available') === '1' && !(await this.slotRelease(otherSlot(slot)))) {
      violations.push(`slot ${slot} is on trial but its fallback, slot ${otherSlot(slot)}, holds no verified image`);
    }
    return { violations, env, slot };
  }

  /** The bootloader runs: checks, decides, saves its counters through the seam, boots. */
  async powerOn(): Promise<BootReport> {
    const { violations, env, slot } = await this.bootability();
    if (violations.length || !env || !slot) throw new NeverBrickViolation(violations.join('; '));
    const d = decideBoot(env, this.config.slotVariable, this.config.bootlimit);
    if (Object.keys(d.changes).length) await openBootEnv(this.config.env, this.fs).update(d.changes);
    this.fs.preloadFile(LAYOUT.booted, d.slot); // the kernel command line: not a disk write
    return { slot: d.slot, release: (await this.slotRelease(d.slot))!, trial: env.get('upgrade_available') === '1' && !d.fallback, fallback: d.fallback };
  }

  /** Power off and on again: only what was synced survives (a reboot is not trusted to flush). */
  powerCycle(): void {
    this.fs = this.fs.afterCut({ sameSupply: true });
  }

  async reboot(): Promise<BootReport> {
    this.powerCycle();
    return this.powerOn();
  }

  /** `slotflip install`: open and verify the signed bundle, write the inactive slot, arm the trial. */
  async install(release: Release): Promise<void> {
    const bundle = await openBundle(Readable.from([release.bundle]), { trustedKeys: this.world.trusted });
    try {
      await installBundle(this.device(), bundle, release.releaseId);
    } finally {
      await bundle.close();
    }
  }

  markGood(): Promise<CommitResult> {
    return markGood(this.device());
  }

  rollback(): Promise<RollbackResult> {
    return rollback(this.device());
  }
}
