// One device in a transfer test: a receiver with its own MQTT client, data dir and file sink,
// which the test can run to the end, stop midway, or run again with the same data dir.

import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import { parseManifest } from '../../src/bundle/manifest.js';
import { realFs } from '../../src/platform/fs.js';
import { FileChunkSink } from '../../src/transfer/file-sink.js';
import { ReleaseReceiver, type ChunkSink, type ReceiveOptions, type ReceiveResult } from '../../src/transfer/receiver.js';
import { connect, type TestRelease } from './support.js';

export interface Device {
  id: string;
  dir: string;
  target: string;
  client: MqttClient;
  /** A receiver into the device's file sink; `wrapSink` may put a slower disk in front of it. */
  receiver(extra?: Partial<ReceiveOptions>, wrapSink?: (s: ChunkSink) => ChunkSink): ReleaseReceiver;
  /** Runs a receiver to the end and closes its sink. */
  fetch(extra?: Partial<ReceiveOptions>, onReceiver?: (r: ReleaseReceiver) => void): Promise<ReceiveResult>;
  close(): Promise<void>;
}

export async function device(url: string, id: string, dir: string, rel: TestRelease, board = 'test-board'): Promise<Device> {
  const client = await connect(url, id);
  const target = path.join(dir, `${id}.img`);
  const dataDir = path.join(dir, `${id}-data`);
  let sink: FileChunkSink | undefined;
  const d: Device = {
    id,
    dir: dataDir,
    target,
    client,
    receiver(extra = {}, wrapSink = (s) => s) {
      sink = new FileChunkSink(realFs, new Map([[rel.manifest.payloads[0]!.name, { file: target, table: rel.table }]]));
      return new ReleaseReceiver(client, {
        board,
        releaseId: rel.releaseId,
        deviceId: id,
        dataDir,
        acceptManifest: async (bytes) => parseManifest(bytes),
        sink: wrapSink(sink),
        idleMs: 1000,
        timeoutMs: 60_000,
        ...extra,
      });
    },
    async fetch(extra = {}, onReceiver) {
      const r = d.receiver(extra);
      onReceiver?.(r);
      try {
        return await r.run();
      } finally {
        await sink?.close();
      }
    },
    async close() {
      await sink?.close();
      await client.endAsync(true);
    },
  };
  return d;
}
