// One emulated board for a test or scenario: its base image in a folder, and the verbs the
// suite needs around it: start the guest, read or set the env as the host sees it on the disk,
// put another slot image (a version, or a broken variant) into slot A or B.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildBaseImage, buildUpdateImage, resolveProfile, type BaseImage, type ImageRecipe, type Profile } from './image.js';
import { readEnv, setEnv, writePartition } from './disk.js';
import type { SlotImage } from './rootfs.js';
import { Vm, type VmOptions } from './vm.js';

export interface QemuBoardOptions extends ImageRecipe {
  /** Folder for the disk, slot images and console logs (created). */
  dir: string;
}

export class QemuBoard {
  private logSeq = 0;

  private constructor(
    readonly profile: Profile,
    readonly image: BaseImage,
    readonly dir: string,
    private readonly recipe: ImageRecipe,
  ) {}

  /** Builds the base image (slot A = the recipe's version) into `dir`. */
  static async create(o: QemuBoardOptions): Promise<QemuBoard> {
    const profile = resolveProfile(o.board);
    fs.mkdirSync(o.dir, { recursive: true });
    const image = await buildBaseImage({ ...o, board: profile, outDir: o.dir });
    return new QemuBoard(profile, image, o.dir, { ...o, board: profile });
  }

  /** Starts the guest; each start gets its own console log file in `dir`. */
  start(o: Partial<Omit<VmOptions, 'profile' | 'disk'>> & { name?: string } = {}): Vm {
    const { name, ...rest } = o;
    const logFile = rest.logFile ?? path.join(this.dir, `console-${++this.logSeq}${name ? `-${name}` : ''}.log`);
    const opts: VmOptions = { profile: this.profile, disk: this.image.disk, ...rest, logFile };
    if (this.image.kernel) opts.kernel = this.image.kernel;
    if (this.image.initrd) opts.initrd = this.image.initrd;
    if (this.image.flash) opts.flash = this.image.flash;
    return Vm.start(opts);
  }

  /** The env as fw_printenv reads it from the disk image (stop the guest first). */
  env(): Promise<Record<string, string>> {
    return readEnv(this.image.fwEnvConfig);
  }

  setEnv(vars: Record<string, string | undefined>): Promise<void> {
    return setEnv(this.image.fwEnvConfig, vars);
  }

  /** Builds a slot image from the board's recipe with other values (version, variant, config). */
  buildSlot(r: Partial<ImageRecipe> & { version: string; out?: string }): Promise<SlotImage> {
    const out = r.out ?? path.join(this.dir, `slot-${r.version}-${r.variant ?? 'good'}.ext4`);
    return buildUpdateImage({ ...this.recipe, ...r, board: this.profile, out });
  }

  /** Writes a slot image into slot A or B of the disk (the guest must be stopped). */
  async installSlot(slot: 'a' | 'b', image: SlotImage | string): Promise<void> {
    await writePartition(this.profile, this.image.disk, slot, typeof image === 'string' ? image : image.image, { wipe: true });
  }

  /** Removes the board's folder. */
  dispose(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
