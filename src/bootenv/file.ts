// The `file` backend: the environment as a JSON object {"name": "value"} in one file, replaced
// atomically (temp file, fsync, rename, fsync dir) so a power cut leaves the old or the new env.
// For development, the demo and application slots; same variable rules as the uboot backend.

import { readFileIfExists, writeFileAtomic, type FileSystem } from '../platform/fs.js';
import { IoError } from '../errors.js';
import { EnvFormatError, EnvMissingError } from './errors.js';
import type { EnvVars, InitializableBootEnv } from './types.js';
import { applyChanges, checkChanges, toVars } from './vars.js';

export class FileEnv implements InitializableBootEnv {
  readonly kind = 'file';

  constructor(
    private readonly file: string,
    private readonly fs: FileSystem,
  ) {}

  async read(): Promise<EnvVars> {
    let bytes: Buffer | undefined;
    try {
      bytes = await readFileIfExists(this.fs, this.file);
    } catch (cause) {
      throw new IoError(`cannot read environment file ${this.file}`, { cause });
    }
    if (!bytes) throw new EnvMissingError(`no environment file ${this.file} (write one with \`slotflip env init\`)`, { details: { file: this.file } });
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (cause) {
      throw new EnvFormatError(`environment file ${this.file} is not valid JSON`, { cause, details: { file: this.file } });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new EnvFormatError(`environment file ${this.file} must hold one JSON object of strings`, { details: { file: this.file } });
    }
    for (const [name, value] of Object.entries(json)) {
      if (typeof value !== 'string') throw new EnvFormatError(`environment file ${this.file}: "${name}" is not a string`, { details: { file: this.file } });
    }
    return toVars(json as Record<string, string>);
  }

  async update(changes: Record<string, string | null>): Promise<EnvVars> {
    checkChanges(changes);
    const { next, changed } = applyChanges(await this.read(), changes);
    if (changed) await this.store(next);
    return next;
  }

  async init(vars: EnvVars): Promise<void> {
    await this.store(toVars(vars));
  }

  private async store(vars: EnvVars): Promise<void> {
    try {
      await writeFileAtomic(this.fs, this.file, JSON.stringify(Object.fromEntries(vars), null, 2) + '\n');
    } catch (cause) {
      throw new IoError(`cannot write environment file ${this.file}`, { cause });
    }
  }
}
