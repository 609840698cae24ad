// The bootloader-environment part: one interface (BootEnv), backends looked up by name from a
// table. Callers pass an EnvLocation (from the device config, a board profile or fw_env.config)
// and never see a concrete backend. Formats and rules: docs/bootenv.md.

import type { EnvLocation } from '../config/device.js';
import { realFs, type FileSystem } from '../platform/fs.js';
import { FileEnv } from './file.js';
import type { BootEnv, EnvVars, InitializableBootEnv } from './types.js';
import { UbootEnv } from './uboot.js';
import { toVars } from './vars.js';

export type { BootEnv, EnvVars } from './types.js';
export * from './errors.js';

type Backends = { [K in EnvLocation['backend']]: (loc: Extract<EnvLocation, { backend: K }>, fs: FileSystem) => InitializableBootEnv };

const BACKENDS: Backends = {
  uboot: (loc, fs) => new UbootEnv(loc.copies, fs),
  file: (loc, fs) => new FileEnv(loc.path, fs),
};

function open(loc: EnvLocation, fs: FileSystem): InitializableBootEnv {
  const make = BACKENDS[loc.backend] as (l: EnvLocation, f: FileSystem) => InitializableBootEnv;
  return make(loc, fs);
}

export function openBootEnv(loc: EnvLocation, fs: FileSystem = realFs): BootEnv {
  return open(loc, fs);
}

/** Writes a fresh environment holding exactly `vars` (every copy valid); for image builders and the demo. */
export async function initBootEnv(loc: EnvLocation, vars: EnvVars | Record<string, string>, fs: FileSystem = realFs): Promise<BootEnv> {
  const env = open(loc, fs);
  await env.init(toVars(vars));
  return env;
}
