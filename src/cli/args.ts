// Argument parsing for commands: node:util parseArgs (no dependency, Node 18 has it) with
// usage errors turned into SF_ERR_USAGE and a generated --help.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** One line for --help; `arg` names the value. */
  help: string;
  arg?: string;
}

export interface ParsedArgs<O extends Record<string, OptionSpec>> {
  values: { [K in keyof O]: O[K]['multiple'] extends true ? string[] : O[K]['type'] extends 'boolean' ? boolean : string | undefined };
  positionals: string[];
  help: boolean;
}

export function helpText(usage: string, options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(30)} ${o.help}${o.multiple ? ' (repeatable)' : ''}`;
  });
  return `usage: ${usage}\n\noptions:\n${rows.join('\n')}\n  ${'-h, --help'.padEnd(30)} this text\n`;
}

export function parse<O extends Record<string, OptionSpec>>(argv: string[], options: O, opts: { positionals?: boolean } = {}): ParsedArgs<O> {
  const config: ParseArgsConfig = {
    args: argv,
    allowPositionals: opts.positionals ?? true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' } },
  };
  for (const [name, o] of Object.entries(options)) {
    const spec: { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean } = { type: o.type };
    if (o.short) spec.short = o.short;
    if (o.multiple) spec.multiple = true;
    if (o.default !== undefined) spec.default = o.default;
    config.options![name] = spec;
  }
  try {
    const r = parseArgs(config);
    const values = r.values as Record<string, unknown>;
    for (const [name, o] of Object.entries(options)) {
      if (o.multiple && values[name] === undefined) values[name] = [];
      if (o.type === 'boolean' && values[name] === undefined) values[name] = false;
    }
    return { values: values as ParsedArgs<O>['values'], positionals: r.positionals, help: values['help'] === true };
  } catch (cause) {
    throw new UsageError((cause as Error).message);
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}
