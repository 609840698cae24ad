// The MQTT topic tree of slotflip, in one place so publisher, receiver, agent and CLI agree.
// Every topic lives under a prefix (default `slotflip`); docs/protocol.md describes what each
// one carries, its QoS and whether it is retained.

import { ConfigError } from '../errors.js';

export const DEFAULT_TOPIC_PREFIX = 'slotflip';

/** One topic level: no separators or wildcards, so a name can never widen a subscription. */
const LEVEL = /^[A-Za-z0-9_.-]{1,64}$/;
const RELEASE_ID = /^[0-9a-f]{16}$/;

function level(kind: string, value: string): string {
  if (!LEVEL.test(value)) throw new ConfigError(`${kind} "${value}" cannot be an MQTT topic level (letters, digits, _ . -, at most 64)`);
  return value;
}

function prefixOf(prefix: string | undefined): string {
  const p = prefix ?? DEFAULT_TOPIC_PREFIX;
  if (p.length === 0 || /[#+]/.test(p) || p.startsWith('/') || p.endsWith('/')) {
    throw new ConfigError(`topic prefix "${p}" must be non-empty, without wildcards or a leading or trailing /`);
  }
  return p;
}

export function checkReleaseId(id: string): string {
  if (!RELEASE_ID.test(id)) throw new ConfigError(`release id "${id}" is not 16 lowercase hex digits`);
  return id;
}

export interface ReleaseTopics {
  /** `<p>/releases/<board>/<releaseId>`: what an announcement points at. */
  base: string;
  /** Retained: the manifest envelope (manifest bytes + signature). */
  manifest: string;
  /** Chunk frames, QoS 1, shared by every device fetching the release. */
  chunks: string;
  /** Device → publisher: joins, acknowledgements, requests for missing chunks, done. */
  requests: string;
}

export function releaseTopics(prefix: string | undefined, board: string, releaseId: string): ReleaseTopics {
  return releaseTopicsFromBase(`${prefixOf(prefix)}/releases/${level('board', board)}/${checkReleaseId(releaseId)}`);
}

/** Topics of a release from the `base` an announcement carries. */
export function releaseTopicsFromBase(base: string): ReleaseTopics {
  if (/[#+]/.test(base) || base.endsWith('/')) throw new ConfigError(`release topic "${base}" is not a plain topic`);
  return { base, manifest: `${base}/manifest`, chunks: `${base}/chunks`, requests: `${base}/requests` };
}

export type AnnounceTarget = { board: string } | { group: string } | { device: string };

/** Retained announcement that points devices at a release: one per board, group or device. */
export function announceTopic(prefix: string | undefined, target: AnnounceTarget): string {
  const p = prefixOf(prefix);
  if ('board' in target) return `${p}/announce/boards/${level('board', target.board)}`;
  if ('group' in target) return `${p}/announce/groups/${level('group', target.group)}`;
  return `${p}/announce/devices/${level('device id', target.device)}`;
}

/** The announcement topics one device listens to (its board, its group if any, itself). */
export function deviceAnnounceTopics(prefix: string | undefined, device: { board: string; deviceId: string; group?: string | undefined }): string[] {
  const topics = [announceTopic(prefix, { board: device.board }), announceTopic(prefix, { device: device.deviceId })];
  if (device.group !== undefined) topics.push(announceTopic(prefix, { group: device.group }));
  return topics;
}

export interface DeviceTopics {
  /** Retained status of the device; the agent sets its last will here (offline). */
  status: string;
  /** Signed operator commands to this device (rollback, reboot, cancel). */
  commands: string;
  /** Non-retained events of the device (results of commands, install reports). */
  events: string;
}

export function deviceTopics(prefix: string | undefined, deviceId: string): DeviceTopics {
  const base = `${prefixOf(prefix)}/devices/${level('device id', deviceId)}`;
  return { status: `${base}/status`, commands: `${base}/commands`, events: `${base}/events` };
}

/** Subscription filter for every device's status (for `slotflip status`). */
export function allStatusFilter(prefix?: string): string {
  return `${prefixOf(prefix)}/devices/+/status`;
}
