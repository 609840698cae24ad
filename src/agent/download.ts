// The bridge between the MQTT receiver and where payloads land: each payload's chunks go to
// their offsets through a guarded SlotWriter (the inactive rootfs slot, or a file in the data
// directory for app and config payloads); all-zero chunks are written as zeros here (a target
// is not known to be zeroed); syncs are the writers' fdatasync.

import type { MqttClient } from 'mqtt';
import { ChunkTable, ManifestError, releaseId as computeReleaseId, type Manifest, type PayloadEntry } from '../bundle/manifest.js';
import { receiveRelease, type ChunkSink } from '../transfer/receiver.js';
import type { SlotWriter } from '../slots/writer.js';
import type { Device } from '../install/device.js';
import type { Progress } from './release.js';

export interface DownloadOptions {
  client: MqttClient;
  dev: Device;
  releaseId: string;
  manifest: Manifest;
  targets: { payload: PayloadEntry; writer: SlotWriter }[];
  signal: AbortSignal;
  onProgress(p: Progress): void;
  /** The durable prefix of a payload grew (bytes from its start, synced, no gap). */
  onDurablePrefix?(payload: string, bytes: number): void;
}

export function payloadSink(targets: DownloadOptions['targets']): ChunkSink {
  const by = new Map(targets.map((t) => [t.payload.name, { writer: t.writer, table: new ChunkTable(t.payload) }]));
  const get = (name: string) => {
    const t = by.get(name);
    if (!t) throw new ManifestError(`chunk of payload ${name}, which this download did not ask for`);
    return t;
  };
  return {
    write: (payload, index, data) => {
      const t = get(payload);
      return t.writer.write(data, t.table.offset(index));
    },
    writeZero: (payload, index, length) => {
      const t = get(payload);
      return t.writer.writeZeros(t.table.offset(index), length);
    },
    read: (payload, index, length) => {
      const t = get(payload);
      return t.writer.read(t.table.offset(index), length);
    },
    sync: async () => {
      for (const t of by.values()) await t.writer.datasync();
    },
  };
}

export async function downloadPayloads(o: DownloadOptions): Promise<void> {
  const config = o.dev.config;
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
      sink: payloadSink(o.targets),
      dataDir: config.dataDir,
      fs: o.dev.fs,
      payloads: o.targets.map((t) => t.payload.name),
      syncEveryChunks: config.syncEveryChunks,
      signal: o.signal,
      ...(o.onDurablePrefix ? { onDurablePrefix: o.onDurablePrefix } : {}),
    },
    (p) => o.onProgress({ received: p.have, total: p.total, bytes: p.bytes }),
  );
}
