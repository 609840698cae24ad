// The baseline's publisher: the same frames slotflip sends, published with plain MQTT.js and
// paced by the bare subscriber's acks with the same window, so only the receivers differ.

import type { MqttClient } from 'mqtt';
import { encodeFrame, releaseIdBytes } from '../../src/transfer/frame.js';
import type { BenchRelease } from './mqtt-image.js';

export async function publishBare(client: MqttClient, rel: BenchRelease, releaseId: string, topic: string, ackTopic: string, windowFrames: number): Promise<void> {
  const p = rel.manifest.payloads[0]!;
  const chunks = Math.ceil(p.size / p.chunkSize);
  const rid = releaseIdBytes(releaseId);
  let acked = 0;
  let wake: (() => void) | undefined;
  const onAck = (t: string, msg: Buffer): void => {
    if (t !== ackTopic) return;
    acked = Math.max(acked, Number(msg.toString()));
    wake?.();
  };
  client.on('message', onAck);
  await client.subscribeAsync(ackTopic, { qos: 0 });
  try {
    for (let i = 0; i < chunks; i++) {
      while (i - acked >= windowFrames) await new Promise<void>((r) => (wake = r));
      const data = await rel.openPayload(p.name, i * p.chunkSize, Math.min(p.chunkSize, p.size - i * p.chunkSize));
      client.publish(topic, encodeFrame({ releaseId: rid, epoch: 1, seq: i + 1, payload: 0, chunk: i, data }), { qos: 1 });
    }
    while (acked < chunks) await new Promise<void>((r) => (wake = r));
  } finally {
    client.off('message', onAck);
    await client.unsubscribeAsync(ackTopic);
  }
}
