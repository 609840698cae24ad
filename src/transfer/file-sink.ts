// A chunk sink that writes each payload into a plain file through the FileSystem seam: for
// development targets, the demo, tests and the benchmark. Board slots use the agent's slot
// writer instead; this one shows the contract in its simplest form.

import type { ChunkTable } from '../bundle/manifest.js';
import type { FileHandle, FileSystem } from '../platform/fs.js';
import type { ChunkSink } from './ledger.js';

export interface FileTarget {
  file: string;
  table: ChunkTable;
}

export class FileChunkSink implements ChunkSink {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private zeros: Uint8Array = new Uint8Array(0);

  /**
   * `zeroedTarget`: the files start out as zeros (new sparse files), so all-zero chunks need
   * no write at all.
   */
  constructor(
    private readonly fs: FileSystem,
    private readonly targets: Map<string, FileTarget>,
    private readonly opts: { zeroedTarget?: boolean } = {},
  ) {}

  private handle(payload: string): Promise<{ fh: FileHandle; table: ChunkTable }> {
    const target = this.targets.get(payload);
    if (!target) return Promise.reject(new Error(`no target file for payload ${payload}`));
    // Writes run concurrently: the first one opens the file, the others wait for that open.
    let opening = this.handles.get(payload);
    if (!opening) {
      opening = this.open(target);
      this.handles.set(payload, opening);
    }
    return opening.then((fh) => ({ fh, table: target.table }));
  }

  private async open(target: FileTarget): Promise<FileHandle> {
    const fh = await this.fs.open(target.file, 'create');
    // A skipped zero chunk at the end must still exist: extend the file to the payload size.
    if (this.opts.zeroedTarget && (await fh.stat()).size < target.table.size) await fh.truncate(target.table.size);
    return fh;
  }

  async write(payload: string, index: number, data: Uint8Array): Promise<void> {
    const { fh, table } = await this.handle(payload);
    await fh.write(data, table.offset(index));
  }

  async writeZero(payload: string, index: number, length: number): Promise<void> {
    if (this.opts.zeroedTarget) return;
    const { fh, table } = await this.handle(payload);
    if (this.zeros.length < length) this.zeros = new Uint8Array(length);
    await fh.write(this.zeros.subarray(0, length), table.offset(index));
  }

  async read(payload: string, index: number, length: number): Promise<Uint8Array> {
    const { fh, table } = await this.handle(payload);
    const out = Buffer.alloc(length);
    for (let got = 0; got < length; ) {
      const n = await fh.read(out, got, length - got, table.offset(index) + got);
      if (n === 0) break; // past the end: a skipped zero chunk of a zeroed target reads as zeros
      got += n;
    }
    return out;
  }

  async sync(): Promise<void> {
    for (const fh of this.handles.values()) await (await fh).datasync();
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const fh of all) await (await fh).close();
  }
}
