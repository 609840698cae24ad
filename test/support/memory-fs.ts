// An in-memory FileSystem (the seam of src/platform/fs.ts) that knows what a power cut keeps:
// every file has volatile content (what reads see) and durable content (what the next boot
// sees), every directory volatile and durable entries. It counts the calls that can change a
// disk, can cut power at call k, and afterCut() is the next boot. Model: docs/powercut.md.

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { FileHandle, FileStat, FileSystem, OpenMode } from '../../src/platform/fs.js';
import { errnoError, PowerCut, type CallLabel } from './fs-errors.js';
import { digestOf, MemoryHandle, own, ROOT, sameEntries, statOf, truncateNode, type DirNode, type FileNode, type LinkNode, type Node } from './memory-file.js';

export { PowerCut, isPowerCut, formatCall, type CallLabel } from './fs-errors.js';

/**
 * What the disk did with data not yet synced when the power went:
 * - lose: nothing unsynced survives (file data only after datasync/sync, entries only after syncDir);
 * - torn: as lose, but the cut call itself half happened: the first half of what a write
 *   changes, or of a sync's pending writes, reached the media (a torn env copy);
 * - flushed: all written file data reached the media, directory changes only when synced;
 * - metadata: every directory change reached the media (a journal commit), file data only when synced.
 */
export type CutMode = 'lose' | 'torn' | 'flushed' | 'metadata';
export const CUT_MODES: readonly CutMode[] = ['lose', 'torn', 'flushed', 'metadata'];

export interface ArmOptions {
  mode?: CutMode;
  /** torn: how far through the changed bytes of the cut write (or the pending writes of the cut sync) the media got; default 0.5. */
  tear?: number;
}

/** The power line of one simulated machine: counts calls across its power cycles, holds the cut. */
export class PowerSupply {
  calls = 0;
  readonly log: CallLabel[] = [];
  armedAt: number | undefined;
  mode: CutMode = 'lose';
  tear = 0.5;
  /** Per logged call: whether unsynced file data / directory entries existed just before it. */
  readonly pending: { data: boolean; entries: boolean }[] = [];
  /** A cut the scenario itself plans (e.g. "at the 8th write to slot b"), one shot, mode lose. */
  planned: ((call: CallLabel) => boolean) | undefined;

  arm(k: number, opts: ArmOptions = {}): void {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`cut point must be a positive integer, got ${k}`);
    this.armedAt = k;
    this.mode = opts.mode ?? 'lose';
    this.tear = opts.tear ?? 0.5;
  }
}

interface Resolved {
  parent: DirNode;
  name: string;
  node: Node | undefined;
  path: string;
}


export class MemoryFs implements FileSystem {
  private readonly nodes = new Map<number, Node>();
  private nextIno = ROOT + 1;
  private dead: { call: CallLabel | undefined; mode: CutMode; planned?: boolean } | undefined;

  constructor(readonly supply: PowerSupply = new PowerSupply()) {
    this.nodes.set(ROOT, { kind: 'dir', ino: ROOT, entries: new Map(), durableEntries: new Map() });
  }

  // ---- power ----------------------------------------------------------------------------

  /** Cuts power at the k-th counted call of this supply (counting continues across afterCut({ sameSupply })). */
  armCut(k: number, opts: ArmOptions = {}): this {
    this.supply.arm(k, opts);
    return this;
  }

  /** The scenario's own power cut: at the first call `when` matches (an armed cut at the same call wins). */
  planCut(when: (call: CallLabel) => boolean): this {
    this.supply.planned = when;
    return this;
  }

  /** True when this machine went off at the scenario's planned cut (not the armed one). */
  get cutWasPlanned(): boolean {
    return this.dead?.planned === true;
  }

  get calls(): number {
    return this.supply.calls;
  }

  get log(): readonly CallLabel[] {
    return this.supply.log;
  }

  /** The call at which power was cut on this machine (undefined: cut between calls, or still on). */
  get cutCall(): CallLabel | undefined {
    return this.dead?.call;
  }

  get isOff(): boolean {
    return this.dead !== undefined;
  }

  /**
   * The next boot: a new MemoryFs holding what survived. Powers this one off if it was still on
   * (a cut between calls, mode lose). `sameSupply` keeps counting and the armed cut, for flows
   * that power-cycle the machine themselves.
   */
  afterCut(opts: { sameSupply?: boolean } = {}): MemoryFs {
    this.dead ??= { call: undefined, mode: 'lose' };
    return this.copy(this.dead.mode, opts.sameSupply ? this.supply : new PowerSupply());
  }

  /** An independent machine with this one's durable state (a disk image), fresh supply; this one stays on. */
  clone(): MemoryFs {
    return this.copy('lose', new PowerSupply());
  }

  private copy(mode: CutMode, supply: PowerSupply): MemoryFs {
    const out = new MemoryFs(supply);
    out.nodes.clear();
    const visit = (ino: number): void => {
      if (out.nodes.has(ino)) return;
      const n = this.nodes.get(ino)!;
      if (n.kind === 'file') {
        // A dead machine's bytes never change again and durable buffers never change: share them.
        const data = mode === 'flushed' ? n.buf.subarray(0, n.size) : n.durable;
        out.nodes.set(ino, { kind: 'file', ino, perm: n.perm, buf: data, size: data.length, durable: data, shared: true, dirty: [] });
      } else if (n.kind === 'dir') {
        const entries = new Map(mode === 'metadata' ? n.entries : n.durableEntries);
        out.nodes.set(ino, { kind: 'dir', ino, entries, durableEntries: new Map(entries) });
        for (const child of entries.values()) visit(child);
      } else {
        out.nodes.set(ino, { ...n });
      }
    };
    visit(ROOT);
    out.nextIno = this.nextIno;
    return out;
  }

  private assertOn(): void {
    if (this.dead) throw new PowerCut(this.dead.call ?? { n: this.supply.calls, op: '(between calls)', path: '' }, true);
  }

  /** Every call that can change the disk goes through here: counted, labelled, maybe cut. */
  private counted<T>(op: string, file: string, detail: string | undefined, effect: () => T, torn?: () => void): T {
    this.assertOn();
    const label: CallLabel = detail === undefined ? { n: ++this.supply.calls, op, path: file } : { n: ++this.supply.calls, op, path: file, detail };
    this.supply.log.push(label);
    this.supply.pending.push(this.pendingNow());
    if (this.supply.armedAt === label.n) {
      this.dead = { call: label, mode: this.supply.mode };
      if (this.supply.mode === 'torn') torn?.();
      throw new PowerCut(label, false);
    }
    if (this.supply.planned?.(label)) {
      this.supply.planned = undefined;
      this.dead = { call: label, mode: 'lose', planned: true };
      throw new PowerCut(label, false);
    }
    return effect();
  }

  /** Whether anything is not yet durable: file data, directory entries (cut modes differ only then). */
  private pendingNow(): { data: boolean; entries: boolean } {
    let data = false;
    let entries = false;
    for (const n of this.nodes.values()) {
      if (n.kind === 'file' && n.dirty.length > 0) data = true;
      if (n.kind === 'dir' && !sameEntries(n.entries, n.durableEntries)) entries = true;
    }
    return { data, entries };
  }

  /**
   * A digest of the whole tree as reads see it: equal digests, equal machines (memoizing
   * re-runs). `canonical` may blank bytes that cannot change behaviour (timestamps).
   */
  fingerprint(canonical?: (file: string, bytes: Buffer) => Uint8Array): string {
    this.assertOn();
    const h = createHash('sha1');
    const walk = (ino: number, at: string): void => {
      const n = this.nodes.get(ino)!;
      if (n.kind === 'file') {
        // A shared buffer equals the immutable durable one: hash it once, by identity.
        const bytes = n.shared ? n.durable : n.buf.subarray(0, n.size);
        const seen = canonical ? canonical(at, bytes) : bytes;
        if (seen === n.durable) h.update(`f${n.size}D`).update(digestOf(n.durable));
        else h.update(`f${n.size}R`).update(seen);
      }
      else if (n.kind === 'symlink') h.update(`l${n.target}\0`);
      else {
        h.update('d{');
        for (const name of [...n.entries.keys()].sort()) {
          h.update(`${name}\0`);
          walk(n.entries.get(name)!, path.posix.join(at, name));
        }
        h.update('}');
      }
    };
    walk(ROOT, '/');
    return h.digest('hex');
  }

  // ---- preloading (not counted, durable at once) -----------------------------------------

  /** Makes everything written so far durable, as if every file and directory had been synced. */
  settle(): this {
    for (const n of this.nodes.values()) {
      if (n.kind === 'file') {
        n.durable = n.buf.subarray(0, n.size);
        n.shared = true;
        n.dirty = [];
      } else if (n.kind === 'dir') n.durableEntries = new Map(n.entries);
    }
    return this;
  }

  /** Creates (or replaces) a file with `data`, parents included, all durable. */
  preloadFile(file: string, data: Uint8Array | string, perm = 0o644): this {
    this.assertOn();
    const abs = path.posix.resolve('/', file);
    this.makeDirs(path.posix.dirname(abs), 'mkdir', abs);
    const r = this.resolve(abs, true, 'open');
    const bytes = Buffer.from(typeof data === 'string' ? Buffer.from(data) : data);
    if (r.node?.kind === 'dir') throw errnoError('EISDIR', 'open', abs);
    const node = r.node?.kind === 'file' ? r.node : this.newFile(r.parent, r.name, perm);
    Object.assign(node, { buf: bytes, size: bytes.length, durable: bytes, shared: true, dirty: [] });
    this.settleChain(abs);
    return this;
  }

  preloadDir(dir: string): this {
    this.assertOn();
    const abs = path.posix.resolve('/', dir);
    this.makeDirs(abs, 'mkdir', abs);
    this.settleChain(abs);
    return this;
  }

  /** Makes the entries along `abs` durable (preloads only). */
  private settleChain(abs: string): void {
    let dir = this.nodes.get(ROOT) as DirNode;
    for (const part of abs.split('/').filter(Boolean)) {
      dir.durableEntries = new Map(dir.entries);
      const next = this.nodes.get(dir.entries.get(part)!);
      if (next?.kind !== 'dir') return;
      dir = next;
    }
    dir.durableEntries = new Map(dir.entries);
  }

  // ---- the tree ---------------------------------------------------------------------------

  private newFile(parent: DirNode, name: string, perm: number): FileNode {
    const node: FileNode = { kind: 'file', ino: this.nextIno++, perm, buf: Buffer.alloc(0), size: 0, durable: Buffer.alloc(0), shared: false, dirty: [] };
    this.nodes.set(node.ino, node);
    parent.entries.set(name, node.ino);
    return node;
  }

  /** Walks `file`; intermediate symlinks are followed, the last one only when `follow`. */
  private resolve(file: string, follow: boolean, syscall: string, shown = file, dest?: string, depth = 0): Resolved {
    if (depth > 40) throw errnoError('ELOOP', syscall, shown, dest);
    const abs = path.posix.resolve('/', file);
    const parts = abs.split('/').filter(Boolean);
    let dir = this.nodes.get(ROOT) as DirNode;
    let dirPath = '/';
    if (parts.length === 0) return { parent: dir, name: '', node: dir, path: '/' };
    for (const part of parts.slice(0, -1)) {
      const ino = dir.entries.get(part);
      if (ino === undefined) throw errnoError('ENOENT', syscall, shown, dest);
      let node = this.nodes.get(ino)!;
      dirPath = path.posix.join(dirPath, part);
      if (node.kind === 'symlink') {
        const r = this.resolve(path.posix.resolve(path.posix.dirname(dirPath), node.target), true, syscall, shown, dest, depth + 1);
        if (!r.node) throw errnoError('ENOENT', syscall, shown, dest);
        node = r.node;
        dirPath = r.path;
      }
      if (node.kind !== 'dir') throw errnoError('ENOTDIR', syscall, shown, dest);
      dir = node;
    }
    const name = parts[parts.length - 1]!;
    const ino = dir.entries.get(name);
    const node = ino === undefined ? undefined : this.nodes.get(ino);
    if (node?.kind === 'symlink' && follow) {
      return this.resolve(path.posix.resolve(dirPath, node.target), true, syscall, shown, dest, depth + 1);
    }
    return { parent: dir, name, node, path: path.posix.join(dirPath, name) };
  }

  private makeDirs(abs: string, syscall: string, shown: string): void {
    let current = '/';
    const parts = abs.split('/').filter(Boolean);
    parts.forEach((part, i) => {
      current = path.posix.join(current, part);
      const r = this.resolve(current, true, syscall, shown);
      if (!r.node) {
        const node: DirNode = { kind: 'dir', ino: this.nextIno++, entries: new Map(), durableEntries: new Map() };
        this.nodes.set(node.ino, node);
        r.parent.entries.set(r.name, node.ino);
      } else if (r.node.kind !== 'dir') {
        throw errnoError(i === parts.length - 1 ? 'EEXIST' : 'ENOTDIR', syscall, shown);
      }
    });
  }

  // ---- FileSystem -------------------------------------------------------------------------

  async open(file: string, mode: OpenMode, perm = 0o644): Promise<FileHandle> {
    const abs = path.posix.resolve('/', file);
    if (mode === 'read') {
      this.assertOn();
      const r = this.resolve(abs, true, 'open', file);
      if (!r.node) throw errnoError('ENOENT', 'open', file);
      return new MemoryHandle(this, r.node as FileNode | DirNode, abs, false);
    }
    return this.counted(`open(${mode})`, abs, undefined, () => {
      if (mode === 'exclusive' && this.resolve(abs, false, 'open', file).node) throw errnoError('EEXIST', 'open', file);
      const r = this.resolve(abs, true, 'open', file);
      if (r.node?.kind === 'dir') throw errnoError('EISDIR', 'open', file);
      if (!r.node && mode === 'update') throw errnoError('ENOENT', 'open', file);
      const node = (r.node as FileNode | undefined) ?? this.newFile(r.parent, r.name, perm);
      if (mode === 'truncate') truncateNode(node, 0);
      return new MemoryHandle(this, node, abs, true);
    });
  }

  async readFile(file: string): Promise<Buffer> {
    this.assertOn();
    const r = this.resolve(file, true, 'open');
    if (!r.node) throw errnoError('ENOENT', 'open', file);
    if (r.node.kind === 'dir') throw errnoError('EISDIR', 'read');
    const n = r.node as FileNode;
    return Buffer.from(n.buf.subarray(0, n.size));
  }

  async stat(file: string): Promise<FileStat> {
    this.assertOn();
    const r = this.resolve(file, true, 'stat');
    if (!r.node) throw errnoError('ENOENT', 'stat', file);
    return statOf(r.node);
  }

  async lstat(file: string): Promise<FileStat> {
    this.assertOn();
    const r = this.resolve(file, false, 'lstat');
    if (!r.node) throw errnoError('ENOENT', 'lstat', file);
    return statOf(r.node);
  }

  async exists(file: string): Promise<boolean> {
    try {
      await this.lstat(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async readdir(dir: string): Promise<string[]> {
    this.assertOn();
    const r = this.resolve(dir, true, 'scandir');
    if (!r.node) throw errnoError('ENOENT', 'scandir', dir);
    if (r.node.kind !== 'dir') throw errnoError('ENOTDIR', 'scandir', dir);
    return [...r.node.entries.keys()];
  }

  async mkdir(dir: string): Promise<void> {
    const abs = path.posix.resolve('/', dir);
    this.counted('mkdir', abs, undefined, () => this.makeDirs(abs, 'mkdir', dir));
  }

  async rename(from: string, to: string): Promise<void> {
    const a = path.posix.resolve('/', from);
    const b = path.posix.resolve('/', to);
    this.counted('rename', `${a} -> ${b}`, undefined, () => {
      const src = this.resolve(a, false, 'rename', from, to);
      if (!src.node) throw errnoError('ENOENT', 'rename', from, to);
      const dst = this.resolve(b, false, 'rename', from, to);
      if (dst.node === src.node) return;
      if (src.node.kind === 'dir') {
        if (dst.node && dst.node.kind !== 'dir') throw errnoError('ENOTDIR', 'rename', from, to);
        if (dst.node?.kind === 'dir' && dst.node.entries.size > 0) throw errnoError('ENOTEMPTY', 'rename', from, to);
        if ((dst.path + '/').startsWith(src.path + '/')) throw errnoError('EINVAL', 'rename', from, to);
      } else if (dst.node?.kind === 'dir') {
        throw errnoError('EISDIR', 'rename', from, to);
      }
      src.parent.entries.delete(src.name);
      dst.parent.entries.set(dst.name, src.node.ino);
    });
  }

  async unlink(file: string): Promise<void> {
    const abs = path.posix.resolve('/', file);
    this.counted('unlink', abs, undefined, () => {
      let r: Resolved;
      try {
        r = this.resolve(abs, false, 'unlink', file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // the seam's unlink: fine if gone
        throw err;
      }
      if (!r.node) return;
      if (r.node.kind === 'dir') throw errnoError('EISDIR', 'unlink', file);
      r.parent.entries.delete(r.name);
    });
  }

  async rmrf(file: string): Promise<void> {
    const abs = path.posix.resolve('/', file);
    this.counted('rmrf', abs, undefined, () => {
      let r: Resolved;
      try {
        r = this.resolve(abs, false, 'rm', file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      if (r.node && r.node.ino !== ROOT) r.parent.entries.delete(r.name);
    });
  }

  async symlink(target: string, file: string): Promise<void> {
    const abs = path.posix.resolve('/', file);
    this.counted('symlink', abs, target, () => {
      const r = this.resolve(abs, false, 'symlink', target, file);
      if (r.node) throw errnoError('EEXIST', 'symlink', target, file);
      const node: LinkNode = { kind: 'symlink', ino: this.nextIno++, target };
      this.nodes.set(node.ino, node);
      r.parent.entries.set(r.name, node.ino);
    });
  }

  async readlink(file: string): Promise<string> {
    this.assertOn();
    const r = this.resolve(file, false, 'readlink');
    if (!r.node) throw errnoError('ENOENT', 'readlink', file);
    if (r.node.kind !== 'symlink') throw errnoError('EINVAL', 'readlink', file);
    return r.node.target;
  }

  async syncDir(dir: string): Promise<void> {
    const abs = path.posix.resolve('/', dir);
    this.counted('syncDir', abs, undefined, () => {
      const r = this.resolve(abs, true, 'open', dir);
      if (!r.node) throw errnoError('ENOENT', 'open', dir);
      if (r.node.kind !== 'dir') throw errnoError('ENOTDIR', 'open', dir);
      r.node.durableEntries = new Map(r.node.entries);
    });
  }

  // ---- the host side of MemoryHandle ---------------------------------------------------

  /** @internal */
  _assertOn(): void {
    this.assertOn();
  }

  /** @internal */
  _counted<T>(op: string, file: string, detail: string | undefined, effect: () => T, torn?: () => void): T {
    return this.counted(op, file, detail, effect, torn);
  }
}
