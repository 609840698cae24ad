// Variable rules shared by every backend, so a name or value one backend takes the others take
// too: U-Boot stores `name=value\0`, so a name must be non-empty without '=' or NUL and a value
// must not hold NUL. Newlines in values are stored as they are, as fw_setenv does.

import { EnvVariableError } from './errors.js';
import type { EnvVars } from './types.js';

export function checkName(name: string): void {
  if (name === '') throw new EnvVariableError('a variable name must not be empty');
  if (name.includes('=')) throw new EnvVariableError(`illegal character '=' in variable name "${name}"`, { details: { name } });
  if (name.includes('\0')) throw new EnvVariableError(`illegal NUL in variable name ${JSON.stringify(name)}`, { details: { name } });
}

export function checkValue(name: string, value: string): void {
  if (value.includes('\0')) throw new EnvVariableError(`illegal NUL in the value of "${name}"`, { details: { name } });
}

/** Checks every change before anything is read or written, so a bad one changes nothing. */
export function checkChanges(changes: Record<string, string | null>): void {
  for (const [name, value] of Object.entries(changes)) {
    checkName(name);
    if (value !== null) checkValue(name, value);
  }
}

/**
 * Applies changes to a copy of `current`; null and '' delete (U-Boot cannot hold an empty
 * variable: `setenv x ""` deletes x). The result is sorted by name in byte order, as U-Boot's
 * export and libubootenv write it. `changed` is false when nothing differs.
 */
export function applyChanges(current: EnvVars, changes: Record<string, string | null>): { next: EnvVars; changed: boolean } {
  const merged = new Map(current);
  let changed = false;
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === '') {
      if (merged.delete(name)) changed = true;
    } else if (merged.get(name) !== value) {
      merged.set(name, value);
      changed = true;
    }
  }
  return { next: sortVars(merged), changed };
}

export function sortVars(vars: EnvVars): EnvVars {
  const names = [...vars.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return new Map(names.map((n) => [n, vars.get(n)!]));
}

export function toVars(input: EnvVars | Record<string, string>): EnvVars {
  const vars = input instanceof Map ? new Map(input) : new Map(Object.entries(input));
  for (const [name, value] of vars) {
    checkName(name);
    checkValue(name, value);
    if (value === '') vars.delete(name);
  }
  return sortVars(vars);
}
