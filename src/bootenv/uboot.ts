// The `uboot` backend: reads and writes the binary environment on a file or block device the way
// U-Boot and libubootenv (fw_printenv/fw_setenv) do. An update writes one whole copy in one
// write, then fsyncs: in a redundant setup always the inactive copy, with flags + 1, so a torn
// write leaves the previous copy current (its CRC still holds and the torn one's does not).

import type { EnvCopy } from '../board/profile.js';
import { IoError } from '../errors.js';
import type { FileHandle, FileSystem } from '../platform/fs.js';
import { EnvCrcError, EnvGeometryError } from './errors.js';
import { withWritable } from './force-ro.js';
import type { EnvVars, InitializableBootEnv } from './types.js';
import { currentCopy, decodeData, decodeImage, encodeData, encodeImage, headerSize, nextFlags } from './uboot-format.js';
import { resolveCopies, type ResolvedCopy } from './uboot-location.js';
import { applyChanges, checkChanges, sortVars, toVars } from './vars.js';

/** Names and values travel as UTF-8 strings outside and as bytes-as-latin1 inside (see format). */
const toBinary = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const fromBinary = (s: string): string => Buffer.from(s, 'latin1').toString('utf8');

function fromEntries(entries: Map<string, string>): EnvVars {
  return new Map([...entries].map(([n, v]) => [fromBinary(n), fromBinary(v)]));
}

interface Loaded {
  copies: ResolvedCopy[];
  current: 0 | 1;
  flags: number;
  entries: Map<string, string>;
}

export class UbootEnv implements InitializableBootEnv {
  readonly kind = 'uboot';

  constructor(
    private readonly copies: EnvCopy[],
    private readonly fs: FileSystem,
  ) {}

  private get redundant(): boolean {
    return this.copies.length === 2;
  }

  async read(): Promise<EnvVars> {
    return fromEntries((await this.load()).entries);
  }

  async update(changes: Record<string, string | null>): Promise<EnvVars> {
    checkChanges(changes);
    const loaded = await this.load();
    const binChanges: Record<string, string | null> = {};
    for (const [n, v] of Object.entries(changes)) binChanges[toBinary(n)] = v === null ? null : toBinary(v);
    const { next, changed } = applyChanges(loaded.entries, binChanges);
    if (!changed) return fromEntries(loaded.entries);
    const target = this.redundant ? (loaded.current === 0 ? 1 : 0) : 0;
    const copy = loaded.copies[target]!;
    const data = encodeData(next, copy.size - headerSize(this.redundant));
    await this.writeCopy(copy, encodeImage(data, this.redundant, nextFlags(loaded.flags)), 'update');
    return fromEntries(next);
  }

  /**
   * Writes a fresh environment: every copy valid with the same data. Copy 0 gets flags 1 and
   * copy 1 flags 0, so copy 0 is current and the first update goes to copy 1.
   */
  async init(vars: EnvVars): Promise<void> {
    const entries = sortVars(new Map([...toVars(vars)].map(([n, v]) => [toBinary(n), toBinary(v)])));
    const copies = await resolveCopies(this.fs, this.copies, true);
    const data = encodeData(entries, copies[0]!.size - headerSize(this.redundant));
    for (const [i, copy] of copies.entries()) {
      await this.writeCopy(copy, encodeImage(data, this.redundant, i === 0 ? 1 : 0), copy.isFile ? 'create' : 'update');
    }
  }

  private async load(): Promise<Loaded> {
    const copies = await resolveCopies(this.fs, this.copies);
    const decoded = [];
    for (const copy of copies) decoded.push(decodeImage(await this.readCopy(copy), this.redundant));
    const current = this.redundant ? currentCopy(decoded[0]!, decoded[1]!) : decoded[0]!.crcOk ? 0 : -1;
    if (current === -1) {
      const where = copies.map((c) => `${c.device}@${c.offset}`).join(' and ');
      throw new EnvCrcError(`no valid environment copy (bad CRC in ${where})`, { details: { copies: copies.map((c) => c.device) } });
    }
    const chosen = decoded[current]!;
    return { copies, current, flags: chosen.flags, entries: decodeData(chosen.data) };
  }

  private async readCopy(copy: ResolvedCopy): Promise<Buffer> {
    const buf = Buffer.alloc(copy.size);
    await this.withHandle(copy, 'read', async (fh) => {
      let got = 0;
      while (got < copy.size) {
        const n = await fh.read(buf, got, copy.size - got, copy.offset + got);
        if (n === 0) throw new EnvGeometryError(`${copy.device} ends at ${copy.offset + got}, inside the environment at ${copy.offset}`);
        got += n;
      }
    });
    return buf;
  }

  /** One write of the whole copy, then fsync, then a read-back so a lost write is not trusted. */
  private async writeCopy(copy: ResolvedCopy, image: Buffer, mode: 'update' | 'create'): Promise<void> {
    await withWritable(this.fs, copy.device, !copy.isFile, () =>
      this.withHandle(copy, mode, async (fh) => {
        await fh.write(image, copy.offset);
        await fh.sync();
      }),
    );
    const back = await this.readCopy(copy);
    if (!back.equals(image)) throw new IoError(`environment copy at ${copy.device}@${copy.offset} reads back different from what was written`);
  }

  private async withHandle(copy: ResolvedCopy, mode: 'read' | 'update' | 'create', use: (fh: FileHandle) => Promise<void>): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await this.fs.open(copy.device, mode);
    } catch (cause) {
      throw new IoError(`cannot open environment device ${copy.device}`, { cause });
    }
    try {
      await use(fh);
    } catch (err) {
      if (err instanceof EnvGeometryError || err instanceof IoError) throw err;
      throw new IoError(`${mode === 'read' ? 'reading' : 'writing'} the environment at ${copy.device}@${copy.offset}`, { cause: err });
    } finally {
      await fh.close();
    }
  }
}
