// The agent's state machine as a table: (state, event) → next state. States are persisted in
// the journal by these stable names; an event with no row in the table is a bug and throws.

import { SlotflipError } from '../errors.js';

export const STATES = ['idle', 'download', 'install', 'reboot', 'trial', 'commit', 'rollback'] as const;
export type AgentState = (typeof STATES)[number];

export const EVENTS = [
  'release', // a verified manifest for this device arrived
  'downloaded', // every chunk is on disk
  'armed', // slot read back and the trial boot armed in the env
  'swapped', // an app/config update is live (no reboot)
  'booted-trial', // came up on the armed slot with upgrade_available=1
  'booted-fallback', // came up on the old slot while a trial was armed: the bootloader fell back
  'booted-rolled-back', // came up on the old slot after our own rollback
  'healthy', // the worker reported healthy within the window
  'unhealthy', // it did not, or it crashed
  'committed', // env says committed
  'rollback-requested', // signed operator command
  'cancel', // signed operator command: abandon the download
  'failed', // a refusal or an error ended the current update
] as const;
export type AgentEvent = (typeof EVENTS)[number];

const T: Record<AgentState, Partial<Record<AgentEvent, AgentState>>> = {
  idle: { release: 'download', 'rollback-requested': 'rollback', 'booted-trial': 'trial', 'booted-fallback': 'idle' },
  download: { downloaded: 'install', failed: 'idle', cancel: 'idle', release: 'download', 'rollback-requested': 'rollback' },
  // A resumed update re-enters download, which finds every chunk already durable.
  install: { armed: 'reboot', swapped: 'idle', failed: 'idle', cancel: 'idle', release: 'download' },
  reboot: { 'booted-trial': 'trial', 'booted-fallback': 'idle', failed: 'idle' },
  trial: { healthy: 'commit', unhealthy: 'rollback', 'rollback-requested': 'rollback', 'booted-fallback': 'idle', 'booted-trial': 'trial' },
  commit: { committed: 'idle', failed: 'rollback' },
  rollback: { 'booted-rolled-back': 'idle', 'booted-fallback': 'idle', failed: 'idle' },
};

export class TransitionError extends SlotflipError {
  constructor(state: AgentState, event: AgentEvent) {
    super('SF_ERR_TRANSITION', `no transition from ${state} on ${event}`, { details: { state, event } });
  }
}

export function next(state: AgentState, event: AgentEvent): AgentState {
  const to = T[state][event];
  if (!to) throw new TransitionError(state, event);
  return to;
}

export function canHandle(state: AgentState, event: AgentEvent): boolean {
  return T[state][event] !== undefined;
}

export function isState(s: unknown): s is AgentState {
  return typeof s === 'string' && (STATES as readonly string[]).includes(s);
}
