// The agent's MQTT connection: connect with a last will that marks the device offline,
// publish the retained status, and route announcements and operator commands to the agent.
// Reconnects are MQTT.js's; subscriptions are renewed on every connect.

import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import type { BrokerConfig } from '../config/device.js';
import { deviceAnnounceTopics, deviceTopics } from '../transfer/topics.js';
import { messageRouter, setNoDelay } from '../transfer/mqtt.js';
import { offlineReport, type StatusReport } from './status.js';

export interface LinkHandlers {
  onAnnouncement(topic: string, payload: Buffer): void;
  onCommand(payload: Buffer): void;
  onConnect(): void;
  log(message: string): void;
}

export interface LinkIdentity {
  deviceId: string;
  board: string;
  group: string | undefined;
}

export function brokerOptions(broker: BrokerConfig, clientId: string): mqtt.IClientOptions {
  const opts: mqtt.IClientOptions = {
    clientId,
    keepalive: broker.keepaliveSeconds,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    clean: true,
  };
  if (broker.username !== undefined) opts.username = broker.username;
  if (broker.password !== undefined) opts.password = broker.password;
  if (broker.ca) opts.ca = readFileSync(broker.ca);
  if (broker.cert) opts.cert = readFileSync(broker.cert);
  if (broker.key) opts.key = readFileSync(broker.key);
  return opts;
}

export class AgentLink {
  readonly client: mqtt.MqttClient;
  private readonly topics: ReturnType<typeof deviceTopics>;
  private readonly announceTopics: string[];
  private lastStatus: Buffer | undefined;

  constructor(
    broker: BrokerConfig,
    private readonly id: LinkIdentity,
    private readonly handlers: LinkHandlers,
  ) {
    this.topics = deviceTopics(broker.topicPrefix, id.deviceId);
    this.announceTopics = deviceAnnounceTopics(broker.topicPrefix, { board: id.board, deviceId: id.deviceId, group: id.group });
    const opts = brokerOptions(broker, `slotflip-agent-${id.deviceId}`);
    opts.will = { topic: this.topics.status, payload: Buffer.from(JSON.stringify(offlineReport(id.deviceId, id.board, id.group))), qos: 1, retain: true };
    this.client = mqtt.connect(broker.url, opts);
    setNoDelay(this.client);
    const router = messageRouter(this.client);
    const onError = (err: unknown) => handlers.log(`handler failed: ${(err as Error).message}`);
    router.route(this.topics.commands, (payload) => handlers.onCommand(payload), onError);
    for (const t of this.announceTopics) router.route(t, (payload) => handlers.onAnnouncement(t, payload), onError);
    this.client.on('connect', () => {
      this.client.subscribe([this.topics.commands, ...this.announceTopics], { qos: 1 }, (err) => {
        if (err) handlers.log(`subscribe failed: ${err.message}`);
      });
      if (this.lastStatus) this.client.publish(this.topics.status, this.lastStatus, { qos: 1, retain: true });
      handlers.onConnect();
    });
    this.client.on('error', (err) => handlers.log(`broker: ${err.message}`));
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Publishes the retained status; while offline, the latest is sent on reconnect. */
  publishStatus(report: StatusReport): void {
    this.lastStatus = Buffer.from(JSON.stringify(report));
    if (this.client.connected) this.client.publish(this.topics.status, this.lastStatus, { qos: 1, retain: true });
  }

  publishEvent(event: Record<string, unknown>): void {
    if (this.client.connected) this.client.publish(this.topics.events, JSON.stringify({ ...event, at: new Date().toISOString() }), { qos: 1 });
  }

  /** Waits until the pending status is on the broker (best effort, bounded). */
  async flush(timeoutMs = 3000): Promise<void> {
    if (!this.client.connected || !this.lastStatus) return;
    await Promise.race([
      this.client.publishAsync(this.topics.status, this.lastStatus, { qos: 1, retain: true }),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
  }

  async close(): Promise<void> {
    // A clean stop: publish offline ourselves (the will only fires on a lost connection).
    if (this.client.connected) {
      const off = { ...offlineReport(this.id.deviceId, this.id.board, this.id.group) };
      const last = this.lastStatus ? (JSON.parse(this.lastStatus.toString()) as StatusReport) : undefined;
      const report = last ? { ...last, online: false, at: off.at } : off;
      await this.client.publishAsync(this.topics.status, JSON.stringify(report), { qos: 1, retain: true }).catch(() => undefined);
    }
    await this.client.endAsync(true);
  }
}
