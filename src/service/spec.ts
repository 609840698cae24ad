// What every init flavour needs to know to start the agent: the node binary, the slotflip
// entry and the device config, plus the header that marks a file as written by slotflip.
// Paths are restricted to a safe character set so one string is valid in a unit and in sh.

import { UsageError } from '../errors.js';

export type InitSystem = 'systemd' | 'sysv' | 'procd';
export const INIT_SYSTEMS: readonly InitSystem[] = ['systemd', 'sysv', 'procd'];

export const SERVICE_NAME = 'slotflip-agent';

/** First comment line of every file slotflip writes; uninstall removes only files holding it. */
export const MARKER = 'slotflip-generated: written by `slotflip service install`';

export interface AgentLaunch {
  /** Absolute path of the node executable. */
  node: string;
  /** Absolute path of the slotflip entry script (dist/slotflip.mjs or a bin link to it). */
  bin: string;
  /** Absolute path of the device config given to `slotflip agent --config`. */
  config: string;
  /** Flags between node and the entry script (default AGENT_NODE_FLAGS). */
  nodeFlags?: readonly string[];
  /** Environment of the agent process (default AGENT_ENV). */
  env?: Readonly<Record<string, string>>;
}

// No quoting is needed (or attempted) for these characters in a systemd unit, in sh and in
// BusyBox's inittab; `%`, `$`, spaces and quotes would each need a different escape per format.
const SAFE_PATH = /^\/[A-Za-z0-9._/+@,:=-]*$/;

export function checkPath(value: string, what: string): string {
  if (!SAFE_PATH.test(value) || value.includes('/../') || value.endsWith('/..')) {
    throw new UsageError(`${what} must be an absolute path of letters, digits and . _ / + @ , : = - (got "${value}")`);
  }
  return value;
}

const SAFE_FLAG = /^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/;
const SAFE_ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const SAFE_ENV_VALUE = /^[A-Za-z0-9._:=,/-]*$/;

export function checkLaunch(launch: AgentLaunch): AgentLaunch {
  const out: AgentLaunch = { node: checkPath(launch.node, '--node'), bin: checkPath(launch.bin, '--bin'), config: checkPath(launch.config, '--config') };
  if (launch.nodeFlags) {
    for (const f of launch.nodeFlags) if (!SAFE_FLAG.test(f)) throw new UsageError(`node flag "${f}" is not of the form --name or --name=value`);
    out.nodeFlags = [...launch.nodeFlags];
  }
  if (launch.env) {
    for (const [k, v] of Object.entries(launch.env)) {
      if (!SAFE_ENV_NAME.test(k) || !SAFE_ENV_VALUE.test(v)) throw new UsageError(`environment entry "${k}=${v}" needs a name of capitals, digits and _ and a value of letters, digits and . _ : = , / -`);
    }
    out.env = { ...launch.env };
  }
  return out;
}

/**
 * Node flags the agent always runs with (docs/service.md, "Node flags"): a 1 MiB young
 * generation instead of up to 16 MiB, and `gc` exposed so the chunk receiver can scavenge
 * every few MiB received (src/transfer/mqtt.ts); together about 20 MiB less peak RSS during
 * an update, flat in image size.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc'];

/**
 * Environment the agent always runs with (docs/service.md, "Node flags"). glibc's malloc
 * normally raises its mmap threshold to the largest block freed so far, after which the
 * 512 KiB frame Buffers come from the heap and freed ones stay resident; a fixed 128 KiB
 * threshold returns every such block to the kernel when it is freed (and disables the
 * adaptive trim threshold too): about 6 MiB less at rest on Node 18 and the transfer's peak
 * flat in image size. Other C libraries (musl on OpenWrt) ignore the variable.
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' };

export function agentEnv(launch: AgentLaunch): Readonly<Record<string, string>> {
  return launch.env ?? AGENT_ENV;
}

/** The agent's argv, shared by every flavour. */
export function agentArgv(launch: AgentLaunch): string[] {
  return [launch.node, ...nodeFlags(launch), launch.bin, 'agent', '--config', launch.config];
}

export function nodeFlags(launch: AgentLaunch): readonly string[] {
  return launch.nodeFlags ?? AGENT_NODE_FLAGS;
}

/** True when the text's header (first three lines) carries the slotflip marker. */
export function isOurs(text: string): boolean {
  return text.split('\n', 3).some((line) => line.startsWith('#') && line.includes(MARKER));
}
