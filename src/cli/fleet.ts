// Operator views over the broker: every device's retained status (slotflip status --broker)
// and signed operator commands (slotflip rollback --broker).

import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { CliIo } from './commands.js';
import type { OptionSpec } from './args.js';
import { required } from './args.js';
import { allStatusFilter, deviceTopics } from '../transfer/topics.js';
import { parseStatus, type StatusReport } from '../agent/status.js';
import { signCommand, type CommandType } from '../agent/commands.js';
import { SlotflipError } from '../errors.js';

export const fleetOptions = {
  broker: { type: 'string', arg: 'URL', help: 'MQTT broker URL (mqtt://host:1883)' },
  'topic-prefix': { type: 'string', arg: 'PREFIX', help: 'topic prefix (default slotflip)' },
  username: { type: 'string', arg: 'NAME', help: 'broker user name' },
  password: { type: 'string', arg: 'SECRET', help: 'broker password (or $SLOTFLIP_MQTT_PASSWORD)' },
  ca: { type: 'string', arg: 'CA.pem', help: 'CA certificate that signed the broker\'s TLS certificate (mqtts://)' },
} satisfies Record<string, OptionSpec>;

type FleetValues = { broker?: string | undefined; 'topic-prefix'?: string | undefined; username?: string | undefined; password?: string | undefined; ca?: string | undefined };

export class BrokerError extends SlotflipError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SF_ERR_BROKER', message, options);
  }
}

export async function connectOperator(v: FleetValues, env: NodeJS.ProcessEnv): Promise<mqtt.MqttClient> {
  const url = required(v.broker, '--broker URL');
  const opts: mqtt.IClientOptions = { connectTimeout: 10_000, reconnectPeriod: 0, clean: true };
  if (v.username) opts.username = v.username;
  const password = v.password ?? env['SLOTFLIP_MQTT_PASSWORD'];
  if (password) opts.password = password;
  if (v.ca) opts.ca = readFileSync(v.ca);
  try {
    return await mqtt.connectAsync(url, opts);
  } catch (cause) {
    throw new BrokerError(`cannot connect to ${url}`, { cause });
  }
}

/** Collects retained status reports until the broker has been quiet for `quietMs`. */
export async function collectStatus(client: mqtt.MqttClient, prefix: string | undefined, quietMs = 400): Promise<StatusReport[]> {
  const reports = new Map<string, StatusReport>();
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(resolve, quietMs);
    };
    client.on('message', (_topic, payload) => {
      const r = parseStatus(payload);
      if (r) reports.set(r.deviceId, r);
      arm();
    });
    arm();
  });
  await client.subscribeAsync(allStatusFilter(prefix), { qos: 1 });
  await done;
  return [...reports.values()].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
}

export async function fleetStatus(v: FleetValues & { json?: boolean }, io: CliIo): Promise<number> {
  const client = await connectOperator(v, io.env);
  try {
    const reports = await collectStatus(client, v['topic-prefix']);
    if (v.json) {
      io.out.write(JSON.stringify(reports) + '\n');
      return 0;
    }
    if (!reports.length) {
      io.out.write('no device has reported yet\n');
      return 0;
    }
    const rows = reports.map((r) => [
      r.deviceId,
      r.online ? 'online' : 'offline',
      r.slot ?? '-',
      r.version ?? '-',
      r.state + (r.trial ? ' (trial)' : ''),
      r.progress ? `${Math.floor((100 * r.progress.received) / Math.max(1, r.progress.total))}%` : '',
      r.lastResult ? `${r.lastResult.result} ${r.lastResult.version ?? ''}`.trim() : '',
      r.lastError?.code ?? '',
    ]);
    const head = ['DEVICE', 'LINK', 'SLOT', 'VERSION', 'STATE', 'PROGRESS', 'LAST RESULT', 'LAST ERROR'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) io.out.write(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
    return 0;
  } finally {
    await client.endAsync();
  }
}

export async function sendCommand(v: FleetValues, io: CliIo, type: CommandType, deviceId: string, keyFile: string): Promise<void> {
  const envelope = signCommand({ type, deviceId }, readFileSync(keyFile));
  const client = await connectOperator(v, io.env);
  try {
    await client.publishAsync(deviceTopics(v['topic-prefix'], deviceId).commands, envelope, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}
