// The bridge between the MQTT receiver and the slot: chunks land at their offsets in the
// inactive slot through the guarded SlotWriter; all-zero chunks are written as zeros here
// (a slot is not known to be zeroed); syncs are the writer's fdatasync.

import type { MqttClient } from 'mqtt';
import { ChunkTable, releaseId as computeReleaseId, type Manifest, type PayloadEntry } from '../bundle/manifest.js';
import { receiveRelease, type ChunkSink } from '../transfer/receiver.js';
import type { SlotWriter } from '../slots/writer.js';
import type { Device } from '../install/device.js';
import { ManifestError } from '../bundle/manifest.js';
import type { Progress } from './release.js';

export interface DownloadOptions {
  client: MqttClient;
  dev: Device;
  releaseId: string;
  manifest: Manifest;
  payload: PayloadEntry;
  writer: SlotWriter;
  signal: AbortSignal;
  onProgress(p: Progress): void;
}

export function slotSink(table: ChunkTable, writer: SlotWriter): ChunkSink {
  return {
    write: (_payload, index, data) => writer.write(data, table.offset(index)),
    writeZero: (_payload, index, length) => writer.writeZeros(table.offset(index), length),
    sync: () => writer.datasync(),
  };
}

export async function downloadPayload(o: DownloadOptions): Promise<void> {
  const config = o.dev.config;
  const table = new ChunkTable(o.payload);
  await receiveRelease(
    o.client,
    {
      prefix: config.broker?.topicPrefix,
      board: config.board.name,
      releaseId: o.releaseId,
      deviceId: config.deviceId,
      // The agent verified this release's manifest before it started; the retained copy must
      // be the same bytes.
      acceptManifest: async (manifestBytes) => {
        if (computeReleaseId(manifestBytes) !== o.releaseId) throw new ManifestError(`retained manifest is not release ${o.releaseId}`);
        return o.manifest;
      },
      sink: slotSink(table, o.writer),
      dataDir: config.dataDir,
      fs: o.dev.fs,
      payloads: [o.payload.name],
      syncEveryChunks: config.syncEveryChunks,
      signal: o.signal,
    },
    (p) => o.onProgress({ received: p.have, total: p.total, bytes: p.bytes }),
  );
}
