// What the device knows about its slots, kept in the data directory (DATA/state.json):
// which release each slot holds and the security-version floor. Written atomically before
// the env is flipped, so after any reboot the agent can name what it booted.

import * as path from 'node:path';
import * as z from 'zod';
import { readFileIfExists, writeFileAtomic, type FileSystem } from '../platform/fs.js';
import { SlotflipError } from '../errors.js';
import type { SlotName } from '../slots/model.js';

const SlotRecordSchema = z
  .object({
    version: z.string(),
    securityVersion: z.number().int().nonnegative(),
    sha256: z.string(),
    size: z.number().int().nonnegative(),
    releaseId: z.string(),
    installedAt: z.string(),
  })
  .strict();

const StateSchema = z
  .object({
    format: z.literal(1),
    slots: z.object({ a: SlotRecordSchema.nullable(), b: SlotRecordSchema.nullable() }).strict(),
    /** Highest security version ever committed: bundles below it are refused. */
    securityFloor: z.number().int().nonnegative(),
    /** The slot last committed as good. */
    committed: z.enum(['a', 'b']).nullable(),
  })
  .strict();

export type SlotRecord = z.infer<typeof SlotRecordSchema>;
export type DeviceState = z.infer<typeof StateSchema>;

export class StateError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SF_ERR_STATE', message, options);
  }
}

export function emptyState(): DeviceState {
  return { format: 1, slots: { a: null, b: null }, securityFloor: 0, committed: null };
}

export class StateStore {
  readonly file: string;

  constructor(
    private readonly fs: FileSystem,
    dataDir: string,
  ) {
    this.file = path.join(dataDir, 'state.json');
  }

  async load(): Promise<DeviceState> {
    const raw = await readFileIfExists(this.fs, this.file);
    if (!raw) return emptyState();
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (cause) {
      throw new StateError(`${this.file} is not valid JSON`, { cause });
    }
    const parsed = StateSchema.safeParse(json);
    if (!parsed.success) throw new StateError(`${this.file}: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
    return parsed.data;
  }

  async save(state: DeviceState): Promise<void> {
    await this.fs.mkdir(path.dirname(this.file));
    await writeFileAtomic(this.fs, this.file, JSON.stringify(state, null, 2) + '\n');
  }

  async update(fn: (s: DeviceState) => void): Promise<DeviceState> {
    const s = await this.load();
    fn(s);
    await this.save(s);
    return s;
  }

  async setSlot(slot: SlotName, record: SlotRecord | null): Promise<DeviceState> {
    return this.update((s) => {
      s.slots[slot] = record;
    });
  }
}
