// Default paths for the agent's command line when the operator gives none: the slotflip
// entry that is running now (unless it is a TypeScript source under tsx) and the node
// binary that `command -v node` would find.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEFAULT_BIN = '/usr/lib/slotflip/slotflip.mjs';

/** The running entry when it is a real script path, else the packaged location. */
export function defaultBin(argv1: string | undefined): string {
  if (argv1 && path.isAbsolute(argv1) && !/\.[cm]?tsx?$/.test(argv1)) return argv1;
  return DEFAULT_BIN;
}

/** `command -v node` without a shell: the first executable `node` on PATH, else `fallback`. */
export function defaultNode(envPath: string | undefined, fallback: string): string {
  for (const dir of (envPath ?? '').split(':')) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, 'node');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not on this PATH entry; `command -v` moves on to the next one too
    }
  }
  return fallback;
}
