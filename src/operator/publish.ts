// Publishing a bundle file to the fleet: serve its release over MQTT (one server per
// compatible board), and watch the devices' retained status until every targeted device has
// committed or failed. Used by `slotflip publish`, the demo and the tests.

import type { MqttClient } from 'mqtt';
import { realFs, type FileSystem } from '../platform/fs.js';
import { SlotflipError } from '../errors.js';
import { MAX_MANIFEST_BYTES, parseManifest, releaseId as computeReleaseId, type Manifest } from '../bundle/manifest.js';
import { MAX_SIGNATURE_BYTES } from '../bundle/signature.js';
import { locateBundle } from '../bundle/locate.js';
import { verifyManifest } from '../bundle/verify.js';
import type { TrustedKey } from '../crypto/index.js';
import { serveRelease, type ReleaseServer, type DeviceProgress } from '../transfer/publisher.js';
import { allStatusFilter } from '../transfer/topics.js';
import { parseStatus, type StatusReport } from '../agent/status.js';

export type DeviceOutcome = 'committed' | 'failed' | 'rolled-back' | 'fallback' | 'timeout';

export interface PublishOptions {
  client: MqttClient;
  bundle: string;
  prefix?: string;
  devices?: string[];
  group?: string;
  /** Verify the bundle's signature before serving it. */
  trustedKeys?: TrustedKey[];
  /** Give up on devices without an outcome after this long. */
  timeoutMs: number;
  /** Stop as soon as every targeted device has an outcome (else serve until timeout). */
  wait?: boolean;
  fs?: FileSystem;
  onProgress?(p: DeviceProgress): void;
  onStatus?(r: StatusReport): void;
  onOutcome?(device: string, outcome: DeviceOutcome, r: StatusReport | undefined): void;
}

export interface PublishResult {
  releaseId: string;
  version: string;
  outcomes: Map<string, DeviceOutcome>;
  bytesSent: number;
  imageBytes: number;
}

export class PublishError extends SlotflipError {}

async function readRange(fs: FileSystem, file: string, offset: number, length: number, max = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || length > max) {
    throw new PublishError('SF_ERR_BUNDLE_FORMAT', `${file}: an entry of ${length} bytes at ${offset} is out of range`);
  }
  const fh = await fs.open(file, 'read');
  try {
    if (offset + length > (await fh.stat()).size) throw new PublishError('SF_ERR_BUNDLE_FORMAT', `${file} ends before its entry at ${offset} (${length} bytes)`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = await fh.read(buf, done, length - done, offset + done);
      if (n === 0) throw new PublishError('SF_ERR_BUNDLE_FORMAT', `${file} ends inside a payload`);
      done += n;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** The manifest and signature bytes of a bundle file, and a reader of its payload bytes. */
export async function readBundleForServing(fs: FileSystem, file: string): Promise<{ manifest: Manifest; manifestBytes: Buffer; sigBytes: Buffer; read(name: string, offset: number, length: number): Promise<Buffer> }> {
  const loc = await locateBundle(fs, file);
  const manifestBytes = await readRange(fs, file, loc.manifest.offset, loc.manifest.size, MAX_MANIFEST_BYTES);
  const sigBytes = await readRange(fs, file, loc.signature.offset, loc.signature.size, MAX_SIGNATURE_BYTES);
  const manifest = parseManifest(manifestBytes);
  for (const p of manifest.payloads) {
    const e = loc.payloads.get(p.name);
    if (!e || e.size !== p.size) throw new PublishError('SF_ERR_BUNDLE_FORMAT', `payload ${p.name} is missing from ${file} or has the wrong size`);
  }
  const handles = new Map<string, { offset: number }>([...loc.payloads].map(([n, e]) => [n, { offset: e.offset }]));
  return {
    manifest,
    manifestBytes,
    sigBytes,
    read: (name, offset, length) => readRange(fs, file, handles.get(name)!.offset + offset, length),
  };
}

function outcomeOf(r: StatusReport, releaseId: string): DeviceOutcome | undefined {
  if (r.lastResult?.releaseId !== releaseId) return undefined;
  switch (r.lastResult.result) {
    case 'committed':
      return 'committed';
    case 'rolled-back':
      return 'rolled-back';
    case 'fallback':
      return 'fallback';
    case 'failed':
      return 'failed';
    default:
      return undefined;
  }
}

export async function publishBundle(o: PublishOptions): Promise<PublishResult> {
  const fs = o.fs ?? realFs;
  const b = await readBundleForServing(fs, o.bundle);
  if (o.trustedKeys) verifyManifest(b.manifestBytes, b.sigBytes, { trustedKeys: o.trustedKeys, checkExpiry: true });
  const releaseId = computeReleaseId(b.manifestBytes);
  const outcomes = new Map<string, DeviceOutcome>();
  const targeted = new Set(o.devices ?? []);
  const boards = new Set(b.manifest.compatible);
  const servers: ReleaseServer[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));

  const checkDone = (): void => {
    if (o.wait && targeted.size > 0 && [...targeted].every((d) => outcomes.has(d))) finish();
  };
  const statusTopic = allStatusFilter(o.prefix);
  const onMessage = (topic: string, payload: Buffer): void => {
    if (!topic.endsWith('/status')) return;
    const r = parseStatus(payload);
    if (!r || !boards.has(r.board)) return;
    const wanted = o.devices ? targeted.has(r.deviceId) : o.group ? r.group === o.group : true;
    if (!wanted) return;
    // Devices of a board or group are learned from their status reports as they come.
    targeted.add(r.deviceId);
    o.onStatus?.(r);
    const out = outcomeOf(r, releaseId);
    if (out && !outcomes.has(r.deviceId)) {
      outcomes.set(r.deviceId, out);
      o.onOutcome?.(r.deviceId, out, r);
    }
    checkDone();
  };
  o.client.on('message', onMessage);
  await o.client.subscribeAsync(statusTopic, { qos: 1 });

  try {
    for (const board of boards) {
      const announce: { devices?: string[]; group?: string; version: string } = { version: b.manifest.version };
      if (o.devices) announce.devices = o.devices;
      if (o.group) announce.group = o.group;
      const server = await serveRelease(o.client, {
        ...(o.prefix ? { prefix: o.prefix } : {}),
        board,
        manifestBytes: b.manifestBytes,
        sigBytes: b.sigBytes,
        manifest: b.manifest,
        openPayload: b.read,
        announce,
      });
      if (o.onProgress) server.on('progress', o.onProgress);
      servers.push(server);
    }
    const timer = setTimeout(finish, o.timeoutMs);
    await finished;
    clearTimeout(timer);
    for (const d of targeted) if (!outcomes.has(d)) outcomes.set(d, 'timeout');
    const bytesSent = servers.reduce((n, s) => n + s.stats.bytesSent, 0);
    return { releaseId, version: b.manifest.version, outcomes, bytesSent, imageBytes: b.manifest.payloads.reduce((n, p) => n + p.size, 0) };
  } finally {
    o.client.off('message', onMessage);
    await o.client.unsubscribeAsync(statusTopic).catch(() => undefined);
    for (const s of servers) await s.close({ withdraw: true });
  }
}
