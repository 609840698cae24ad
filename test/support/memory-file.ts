// The inodes of the in-memory file system (volatile and durable bytes, volatile and durable
// entries), what a torn write leaves, and the file handle. The tree and the power live in
// ./memory-fs.ts; the model is in docs/powercut.md.

import { createHash } from 'node:crypto';
import type { FileHandle, FileStat } from '../../src/platform/fs.js';
import { closedError, errnoError } from './fs-errors.js';

export const ROOT = 1;

export type DirtyOp = { kind: 'write'; position: number; bytes: Buffer } | { kind: 'truncate'; length: number };
export interface FileNode {
  kind: 'file';
  ino: number;
  perm: number;
  buf: Buffer; // volatile bytes; capacity ≥ size, zero beyond size
  size: number;
  /** Never written in place once assigned, so machines may share it (copy-on-write via `shared`). */
  durable: Buffer;
  /** buf is (a view of) an immutable durable buffer: copy it before changing it. */
  shared: boolean;
  dirty: DirtyOp[]; // changes since the last sync, in order (for a torn sync)
}
export interface DirNode {
  kind: 'dir';
  ino: number;
  entries: Map<string, number>;
  durableEntries: Map<string, number>;
}
export interface LinkNode {
  kind: 'symlink';
  ino: number;
  target: string;
}
export type Node = FileNode | DirNode | LinkNode;

/**
 * How many leading bytes of a write reach the media when it tears: `tear` of the way through
 * the bytes it actually changes (an env copy changes its first hundred bytes, not 4 KiB), byte
 * by byte, as on NOR flash or a disk without atomic sectors.
 */
function tornLength(media: Buffer, position: number, bytes: Uint8Array, tear: number): number {
  let first = -1;
  let last = -1;
  for (let i = 0; i < bytes.length; i++) {
    const at = position + i;
    if (at >= media.length || media[at] !== bytes[i]) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? 0 : first + Math.floor((last - first + 1) * tear);
}

function applyWrite(target: Buffer, position: number, bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.max(target.length, position + bytes.length));
  target.copy(out);
  out.set(bytes, position);
  return out;
}

/** Torn write: the first part of what `bytes` changes reached the media at `position`. */
export function tearWrite(node: FileNode, position: number, bytes: Uint8Array, tear: number): void {
  node.durable = applyWrite(node.durable, position, bytes.subarray(0, tornLength(node.durable, position, bytes, tear)));
}

/** Torn sync: the first `tear` of the pending writes reached the media whole, the next one torn. */
export function tearSync(node: FileNode, tear: number): void {
  const whole = Math.floor(node.dirty.length * tear);
  let durable = node.durable;
  for (const [i, op] of node.dirty.slice(0, whole + 1).entries()) {
    if (op.kind === 'truncate') {
      if (i < whole) durable = op.length <= durable.length ? durable.subarray(0, op.length) : applyWrite(durable, op.length, new Uint8Array(0));
      continue;
    }
    const n = i < whole ? op.bytes.length : tornLength(durable, op.position, op.bytes, tear);
    durable = applyWrite(durable, op.position, op.bytes.subarray(0, n));
  }
  node.durable = durable;
}

export function statOf(n: Node): FileStat {
  const type = n.kind === 'file' ? 0o100000 : n.kind === 'dir' ? 0o040000 : 0o120000;
  const perm = n.kind === 'file' ? n.perm : n.kind === 'dir' ? 0o755 : 0o777;
  return {
    size: n.kind === 'file' ? n.size : n.kind === 'dir' ? 4096 : Buffer.byteLength(n.target),
    isFile: n.kind === 'file',
    isDirectory: n.kind === 'dir',
    isBlockDevice: false,
    isCharacterDevice: false,
    isSymbolicLink: n.kind === 'symlink',
    mode: type | perm,
    dev: 0x5f,
    ino: n.ino,
    rdev: 0,
  };
}

export function sameEntries(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Digests of immutable (shared) buffers, so fingerprinting a big unchanged slot costs nothing. */
const digests = new WeakMap<Buffer, Buffer>();
export function digestOf(b: Buffer): Buffer {
  let d = digests.get(b);
  if (!d) digests.set(b, (d = createHash('sha1').update(b).digest()));
  return d;
}

/** Gives `node` a private volatile buffer before it changes. */
export function own(node: FileNode): void {
  if (!node.shared) return;
  const b = Buffer.alloc(Math.max(node.size, 4096));
  node.buf.copy(b, 0, 0, node.size);
  node.buf = b;
  node.shared = false;
}

export function truncateNode(node: FileNode, length: number): void {
  own(node);
  if (length < node.size) node.buf.fill(0, length, node.size);
  else ensureCapacity(node, length);
  node.size = length;
  node.dirty.push({ kind: 'truncate', length });
}

function ensureCapacity(node: FileNode, size: number): void {
  if (size <= node.buf.length) return;
  const grown = Buffer.alloc(Math.max(size, node.buf.length * 2, 4096));
  node.buf.copy(grown, 0, 0, node.size);
  node.buf = grown;
}

/** What a handle needs from its file system: the power (cut check, counting) and the tear fraction. */
export interface HandleHost {
  readonly supply: { tear: number };
  _assertOn(): void;
  _counted<T>(op: string, file: string, detail: string | undefined, effect: () => T, torn?: () => void): T;
}

export class MemoryHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly fs: HandleHost,
    private readonly node: FileNode | DirNode,
    private readonly file: string,
    private readonly writable: boolean,
  ) {}

  private usable(syscall: string, write: boolean): FileNode {
    if (this.closed) throw closedError(syscall);
    if (write && !this.writable) throw errnoError('EBADF', syscall);
    if (this.node.kind === 'dir') throw errnoError('EISDIR', syscall);
    return this.node;
  }

  async read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.fs._assertOn();
    const n = this.usable('read', false);
    const end = Math.min(n.size, position + length);
    if (end <= position) return 0;
    into.set(n.buf.subarray(position, end), offset);
    return end - position;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    const bytes = Buffer.from(data); // the caller may reuse its buffer
    this.fs._counted(
      'write',
      this.file,
      `${bytes.length}@${position}`,
      () => {
        const n = this.usable('write', true);
        own(n);
        ensureCapacity(n, position + bytes.length);
        n.buf.set(bytes, position);
        n.size = Math.max(n.size, position + bytes.length);
        n.dirty.push({ kind: 'write', position, bytes });
      },
      () => {
        if (this.node.kind === 'file' && this.writable && !this.closed) tearWrite(this.node, position, bytes, this.fs.supply.tear);
      },
    );
  }

  private flush(op: 'datasync' | 'sync'): void {
    this.fs._counted(
      op,
      this.file,
      undefined,
      () => {
        const n = this.usable(op === 'sync' ? 'fsync' : 'fdatasync', false);
        n.durable = n.buf.subarray(0, n.size);
        n.shared = true;
        n.dirty = [];
      },
      () => {
        if (this.node.kind === 'file' && !this.closed) tearSync(this.node, this.fs.supply.tear);
      },
    );
  }

  async datasync(): Promise<void> {
    this.flush('datasync');
  }

  async sync(): Promise<void> {
    this.flush('sync');
  }

  async truncate(length: number): Promise<void> {
    this.fs._counted('truncate', this.file, String(length), () => truncateNode(this.usable('ftruncate', true), length));
  }

  async stat(): Promise<FileStat> {
    this.fs._assertOn();
    if (this.closed) throw closedError('fstat');
    return statOf(this.node);
  }

  async close(): Promise<void> {
    this.fs._assertOn();
    this.closed = true;
  }
}
