// Loss on the device side of a release stream (tests and bench/fanout.ts), outside src/transfer: after the
// transfer's MessageRouter is installed on a client, wrap its handleMessage so a share of the
// chunk frames (never sync frames) is acknowledged to the broker and thrown away unseen, as
// if the radio had lost them. Whether a frame is lost depends only on (seed, epoch, seq), the
// publish's identity: devices given one seed lose exactly the same frames, whatever order or
// timing they see them in; devices given their own seeds lose independently.

import type { MqttClient } from 'mqtt';
import { messageRouter } from '../../src/transfer/mqtt.js';
import { decodeFrame, FLAG_SYNC } from '../../src/transfer/frame.js';

export interface LossStats {
  seen: number;
  dropped: number;
}

/** murmur3's 32-bit finaliser over the three words: a well-spread value in [0, 1). */
function uniform(seed: number, epoch: number, seq: number): number {
  let h = seed >>> 0;
  for (const w of [epoch, seq]) {
    h ^= w >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return (h >>> 0) / 2 ** 32;
}

export function dropChunkFrames(client: MqttClient, chunksTopic: string, rate: number, seed: number): LossStats {
  messageRouter(client); // the router wraps handleMessage first; our wrapper goes outside it
  const stats: LossStats = { seen: 0, dropped: 0 };
  const routed = client.handleMessage.bind(client);
  client.handleMessage = (packet, callback) => {
    if (packet.topic === chunksTopic) {
      let frame;
      try {
        frame = decodeFrame(packet.payload as Buffer, Number.MAX_SAFE_INTEGER);
      } catch {
        frame = undefined; // not ours to judge: the receiver counts bad frames itself
      }
      if (frame && !(frame.flags & FLAG_SYNC)) {
        stats.seen++;
        if (uniform(seed, frame.epoch, frame.seq) < rate) {
          stats.dropped++;
          callback();
          return;
        }
      }
    }
    routed(packet, callback);
  };
  return stats;
}
