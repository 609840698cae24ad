// `slotflip env print|set|init`: the bootloader environment from the shell, printed and set the
// way fw_printenv/fw_setenv do it. The location comes from --config (fw_env.config), --board
// (a profile's env copies), --device-config (DEVICE.json), else /etc/fw_env.config.

import { readFileSync } from 'node:fs';
import { initBootEnv, openBootEnv, EnvUndefinedError, type BootEnv, type EnvVars } from '../../bootenv/index.js';
import { loadProfile } from '../../board/profile.js';
import { loadDeviceConfig, parseFwEnvConfig, type EnvLocation } from '../../config/device.js';
import { ConfigError, SlotflipError, UsageError } from '../../errors.js';
import { helpText, parse, type OptionSpec } from '../args.js';
import type { CliIo, Command } from '../commands.js';

const DEFAULT_CONFIG = '/etc/fw_env.config';

const LOCATION = {
  config: { type: 'string', arg: 'FW_ENV_CONFIG', help: `fw_env.config naming the env copies (default ${DEFAULT_CONFIG})` },
  board: { type: 'string', arg: 'NAME', help: "a board profile's env copies (name or path)" },
  'device-config': { type: 'string', arg: 'DEVICE.json', help: "the device config's env location" },
  json: { type: 'boolean', help: 'print JSON' },
} satisfies Record<string, OptionSpec>;

const PRINT = { ...LOCATION, noheader: { type: 'boolean', short: 'n', help: 'print only the value (exactly one NAME)' } } satisfies Record<string, OptionSpec>;
const INIT = {
  ...LOCATION,
  input: { type: 'string', arg: 'FILE', help: 'NAME=VALUE lines (mkenvimage input; # comments) to start from' },
  force: { type: 'boolean', help: 'overwrite an environment that is valid now' },
} satisfies Record<string, OptionSpec>;

const USAGE = `slotflip env print [NAME...] | set NAME=VALUE... | init [NAME=VALUE...] [location options]

  print   prints name=value lines like fw_printenv; a NAME that is not defined fails (exit 1)
  set     changes all NAME=VALUE pairs in one write; NAME= deletes; quote values with spaces
  init    writes a fresh environment (every copy valid) holding exactly the pairs given
`;

type LocationFlags = { config?: string | undefined; board?: string | undefined; 'device-config'?: string | undefined };

/** The env location by precedence: --config, --board, --device-config, /etc/fw_env.config. */
export function envLocation(flags: LocationFlags): EnvLocation {
  if (flags.board !== undefined && flags.config === undefined) return { backend: 'uboot', copies: loadProfile(flags.board).env.copies };
  if (flags['device-config'] !== undefined && flags.config === undefined) return loadDeviceConfig(flags['device-config']).env;
  const file = flags.config ?? DEFAULT_CONFIG;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read ${file}${flags.config === undefined ? ' (give --config, --board or --device-config)' : ''}`, { cause });
  }
  // Device paths stay as written, relative to the working directory, as fw_printenv takes them.
  return { backend: 'uboot', copies: parseFwEnvConfig(text, file) };
}

/** Splits NAME=VALUE at the first '='; an empty VALUE means delete (null). */
export function parsePairs(args: string[]): Record<string, string | null> {
  const changes: Record<string, string | null> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected NAME=VALUE, got "${arg}" (NAME= deletes)`);
    changes[arg.slice(0, eq)] = arg.slice(eq + 1) === '' ? null : arg.slice(eq + 1);
  }
  return changes;
}

/** mkenvimage's input: one NAME=VALUE per line; blank lines and lines starting with '#' skipped. */
function readInputFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read ${file}`, { cause });
  }
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const l = line.replace(/\r$/, '');
    if (l === '' || l.startsWith('#')) continue;
    const eq = l.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${file}: expected NAME=VALUE, got "${l}"`);
    vars[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return vars;
}

function printJson(io: CliIo, vars: EnvVars, names?: string[]): void {
  const shown = names?.length ? names.filter((n) => vars.has(n)).map((n) => [n, vars.get(n)!]) : [...vars];
  io.out.write(JSON.stringify({ ok: true, vars: Object.fromEntries(shown) }) + '\n');
}

async function print(argv: string[], io: CliIo): Promise<number> {
  const a = parse(argv, PRINT);
  if (a.help) {
    io.out.write(helpText('slotflip env print [NAME...] [options]', PRINT));
    return 0;
  }
  if (a.values.noheader && a.positionals.length !== 1) throw new UsageError('-n/--noheader needs exactly one NAME');
  const vars = await openBootEnv(envLocation(a.values)).read();
  const names = a.positionals;
  const missing = names.filter((n) => !vars.has(n));
  if (a.values.json) {
    if (!missing.length) printJson(io, vars, names);
  } else if (!names.length) {
    for (const [n, v] of vars) io.out.write(`${n}=${v}\n`);
  } else {
    for (const n of names) if (vars.has(n)) io.out.write(a.values.noheader ? `${vars.get(n)}\n` : `${n}=${vars.get(n)}\n`);
  }
  if (missing.length) throw new EnvUndefinedError(missing.map((n) => `"${n}"`).join(', ') + ' not defined', { details: { missing } });
  return 0;
}

async function set(argv: string[], io: CliIo): Promise<number> {
  const a = parse(argv, LOCATION);
  if (a.help) {
    io.out.write(helpText('slotflip env set NAME=VALUE... [options]', LOCATION));
    return 0;
  }
  if (!a.positionals.length) throw new UsageError('env set needs at least one NAME=VALUE');
  const changes = parsePairs(a.positionals);
  const vars = await openBootEnv(envLocation(a.values)).update(changes);
  if (a.values.json) printJson(io, vars);
  return 0;
}

async function init(argv: string[], io: CliIo): Promise<number> {
  const a = parse(argv, INIT);
  if (a.help) {
    io.out.write(helpText('slotflip env init [NAME=VALUE...] [--input FILE] [options]', INIT));
    return 0;
  }
  const loc = envLocation(a.values);
  if (!a.values.force) await refuseValidEnv(openBootEnv(loc));
  const vars: Record<string, string> = a.values.input ? readInputFile(a.values.input) : {};
  for (const [n, v] of Object.entries(parsePairs(a.positionals))) {
    if (v === null) delete vars[n];
    else vars[n] = v;
  }
  const env = await initBootEnv(loc, vars);
  if (a.values.json) printJson(io, await env.read());
  return 0;
}

/** init replaces everything (bootcmd too); on a device that has an env, that must be asked for. */
async function refuseValidEnv(env: BootEnv): Promise<void> {
  try {
    await env.read();
  } catch (err) {
    // Anything that leaves no usable env (bad CRC, missing file, unparsable) is what init is for;
    // geometry, I/O and config errors would fail init the same way, so let init report them.
    if (err instanceof SlotflipError) return;
    throw err;
  }
  throw new UsageError('the environment is valid now; env init would replace all of it (add --force)');
}

const SUBCOMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = { print, set, init };

export const command: Command = {
  summary: 'print or set bootloader environment variables (like fw_printenv/fw_setenv)',
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      io.out.write(`usage: ${USAGE}\nslotflip env <subcommand> --help for its options\n`);
      return sub === undefined ? 2 : 0;
    }
    const run = SUBCOMMANDS[sub];
    if (!run) throw new UsageError(`unknown env subcommand "${sub}" (print, set, init)`);
    return run(rest, io);
  },
};
