// One simulated device on a MemoryFs: power it on (the bootloader's decision with the
// simulator's rules, its saveenv through the seam), install a bundle or download one chunk by
// chunk, commit, roll back, reboot (a power cycle that keeps only what was synced), and tell
// what a slot holds.

import { Readable } from 'node:stream';
import { openBundle } from '../../src/bundle/index.js';
import { openBootEnv, type EnvVars } from '../../src/bootenv/index.js';
import { decodeImage } from '../../src/bootenv/uboot-format.js';
import { decideBoot } from '../../src/simulator/boot-rules.js';
import { openDevice, type Device } from '../../src/install/device.js';
import { finishInstall, installBundle, prepareInstall } from '../../src/install/firmware.js';
import { ChunkTable } from '../../src/bundle/manifest.js';
import { ChunkLedger, type ChunkSink } from '../../src/transfer/ledger.js';
import { removeTransferState } from '../../src/transfer/bitmap-store.js';
import type { SlotWriter } from '../../src/slots/writer.js';
import { markGood, rollback, type CommitResult, type RollbackResult } from '../../src/install/commit.js';
import { otherSlot, type SlotName } from '../../src/slots/model.js';
import { MemoryFs } from '../support/memory-fs.js';
import { LAYOUT, type Release, type World } from './world.js';

/** Chunks into the slot as the agent's download does (src/agent/download.ts): offsets, zeros, fdatasync. */
function slotSink(table: ChunkTable, writer: SlotWriter): ChunkSink {
  return {
    write: (_payload, index, data) => writer.write(data, table.offset(index)),
    writeZero: (_payload, index, length) => writer.writeZeros(table.offset(index), length),
    sync: () => writer.datasync(),
  };
}

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
  /** What the last completed download() fetched and found already durable (for tests). */
  lastDownload: { resumed: number; fetched: number } | undefined;

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

  /**
   * The agent's download path without the broker: prepareInstall, then chunks (in `order`)
   * through the transfer ledger into the slot writer, the bitmap persisted after each sync so
   * a restart fetches only what is missing, then read-back and arm (finishInstall).
   */
  async download(
    release: Release,
    order: (count: number) => number[] = (n) => [...Array(n).keys()],
    /** For controls: replace the slot sink (e.g. one that forgets to sync). */
    wrapSink: (sink: ChunkSink) => ChunkSink = (sink) => sink,
    /** A new offer of the release (the agent drops an old bitmap), not a resume after a restart. */
    opts: { fresh?: boolean } = {},
  ): Promise<{ resumed: number; fetched: number }> {
    const opened = await openBundle(Readable.from([release.bundle]), { trustedKeys: this.world.trusted });
    if (opts.fresh) await removeTransferState(this.fs, this.config.dataDir, release.releaseId);
    const manifest = opened.manifest;
    await opened.close(); // the manifest is what travels first; chunks come from the publisher
    const dev = this.device();
    const prep = await prepareInstall(dev, manifest);
    let result: { resumed: number; fetched: number };
    try {
      const table = new ChunkTable(prep.payload);
      const wanted = { index: manifest.payloads.indexOf(prep.payload), name: prep.payload.name, table };
      const ledger = new ChunkLedger(this.fs, this.config.dataDir, release.releaseId, [wanted], wrapSink(slotSink(table, prep.writer)), {
        chunks: this.config.syncEveryChunks,
        bytes: 16 * 1024 * 1024,
        writesInFlight: 1, // one write at a time: every cut point is a distinct, repeatable call
      });
      await ledger.load(() => undefined); // a damaged bitmap means: fetch everything again
      let fetched = 0;
      for (const i of order(table.count)) {
        if (ledger.has(wanted.index, i) || table.isZero(i)) continue;
        await ledger.write(wanted, i, release.image.subarray(table.offset(i), table.offset(i) + table.length(i)));
        fetched++;
      }
      await ledger.writeZeros();
      await ledger.flush();
      result = { resumed: ledger.resumed, fetched };
      await finishInstall(dev, prep, manifest, release.releaseId);
    } catch (err) {
      await prep.writer.close().catch(() => undefined); // the error that matters is err
      throw err;
    }
    await removeTransferState(this.fs, this.config.dataDir, release.releaseId);
    return result;
  }

  markGood(): Promise<CommitResult> {
    return markGood(this.device());
  }

  rollback(): Promise<RollbackResult> {
    return rollback(this.device());
  }
}
