// Retained announcements that point devices at a release: on the board's topic (every device
// of that board), a group's topic, or each listed device's own topic. Withdrawing publishes
// an empty retained message, which MQTT brokers treat as "delete the retained message".

import type { MqttClient } from 'mqtt';
import { encodeAnnouncement, type Announcement } from './messages.js';
import { announceTopic, releaseTopics } from './topics.js';

export interface AnnounceOptions {
  prefix?: string;
  board: string;
  releaseId: string;
  version?: string;
  /** Announce to these devices only (one retained message per device topic). */
  devices?: string[];
  /** Announce to a group (the group topic); combined with `devices`, only those members act. */
  group?: string;
}

/** Topic → message of each announcement these options stand for. */
export function announcementMessages(o: AnnounceOptions): Map<string, Buffer> {
  const a: Announcement = {
    releaseId: o.releaseId,
    board: o.board,
    topic: releaseTopics(o.prefix, o.board, o.releaseId).base,
    published: new Date().toISOString(),
  };
  if (o.version !== undefined) a.version = o.version;
  const out = new Map<string, Buffer>();
  if (o.group !== undefined) {
    if (o.devices) a.devices = o.devices;
    out.set(announceTopic(o.prefix, { group: o.group }), encodeAnnouncement(a));
  } else if (o.devices) {
    for (const device of o.devices) out.set(announceTopic(o.prefix, { device }), encodeAnnouncement({ ...a, devices: [device] }));
  } else {
    out.set(announceTopic(o.prefix, { board: o.board }), encodeAnnouncement(a));
  }
  return out;
}

export async function announceRelease(client: MqttClient, o: AnnounceOptions): Promise<string[]> {
  const messages = announcementMessages(o);
  await Promise.all([...messages].map(([topic, msg]) => client.publishAsync(topic, msg, { qos: 1, retain: true })));
  return [...messages.keys()];
}

/** Removes the retained announcements (devices that have not started will not start). */
export async function withdrawAnnouncements(client: MqttClient, topics: Iterable<string>): Promise<void> {
  await Promise.all([...topics].map((topic) => client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true })));
}
