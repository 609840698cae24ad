// Loss on the device side of a release stream, without touching src/transfer: after the
// transfer's MessageRouter is installed on a client, wrap its handleMessage so a share of the
// chunk frames (never sync frames) is acknowledged to the broker and thrown away unseen, as
// if the radio had lost them. Each device draws from its own seeded generator.

import type { MqttClient } from 'mqtt';
import { messageRouter } from '../../src/transfer/mqtt.js';
import { FRAME_HEADER_BYTES } from '../../src/transfer/frame.js';

export interface LossStats {
  seen: number;
  dropped: number;
}

/** xorshift32: reproducible per device, no shared state between devices. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export function dropChunkFrames(client: MqttClient, chunksTopic: string, rate: number, seed: number): LossStats {
  messageRouter(client); // the router wraps handleMessage first; our wrapper goes outside it
  const stats: LossStats = { seen: 0, dropped: 0 };
  const next = rng(seed);
  const routed = client.handleMessage.bind(client);
  client.handleMessage = (packet, callback) => {
    if (packet.topic === chunksTopic && (packet.payload as Buffer).length > FRAME_HEADER_BYTES) {
      stats.seen++;
      if (next() < rate) {
        stats.dropped++;
        callback();
        return;
      }
    }
    routed(packet, callback);
  };
  return stats;
}
