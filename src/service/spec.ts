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

export function checkLaunch(launch: AgentLaunch): AgentLaunch {
  return { node: checkPath(launch.node, '--node'), bin: checkPath(launch.bin, '--bin'), config: checkPath(launch.config, '--config') };
}

/** The agent's argv, shared by every flavour. */
export function agentArgv(launch: AgentLaunch): string[] {
  return [launch.node, launch.bin, 'agent', '--config', launch.config];
}

/** True when the text's header (first three lines) carries the slotflip marker. */
export function isOurs(text: string): boolean {
  return text.split('\n', 3).some((line) => line.startsWith('#') && line.includes(MARKER));
}
