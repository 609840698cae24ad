// The agent's status report: one retained JSON message per device on
// `<prefix>/devices/<id>/status`, replaced on every change; the MQTT last will replaces it
// with an offline report when the agent's connection dies.

import type { AgentState } from './states.js';
import type { SlotName } from '../slots/model.js';

export interface StatusReport {
  deviceId: string;
  board: string;
  group: string | null;
  online: boolean;
  state: AgentState;
  /** Slot the device runs from, and what it holds. */
  slot: SlotName | null;
  version: string | null;
  trial: boolean;
  release: { id: string; version: string; target: SlotName } | null;
  progress: { received: number; total: number; bytes: number } | null;
  worker: 'stopped' | 'starting' | 'healthy' | 'unhealthy' | null;
  lastResult: { result: string; releaseId: string | null; version: string | null; at: string } | null;
  lastError: { code: string; message: string; at: string } | null;
  at: string;
}

export function offlineReport(deviceId: string, board: string, group: string | undefined): StatusReport {
  return {
    deviceId,
    board,
    group: group ?? null,
    online: false,
    state: 'idle',
    slot: null,
    version: null,
    trial: false,
    release: null,
    progress: null,
    worker: null,
    lastResult: null,
    lastError: null,
    at: new Date().toISOString(),
  };
}

export function parseStatus(payload: Uint8Array): StatusReport | undefined {
  try {
    const r = JSON.parse(Buffer.from(payload).toString('utf8')) as StatusReport;
    return typeof r.deviceId === 'string' && typeof r.state === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}
