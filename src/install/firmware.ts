// The firmware install path, shared by `slotflip install` (a local bundle stream) and the
// agent (chunks over MQTT): check → (disarm) → write the inactive slot → read back →
// record → arm the trial boot in one env write. Nothing before the read-back touches the env
// except disarming a pending trial of the very slot about to be overwritten.

import type { Readable } from 'node:stream';
import type { Manifest, PayloadEntry } from '../bundle/manifest.js';
import { findPayload } from '../bundle/manifest.js';
import type { OpenedBundle } from '../bundle/index.js';
import { SlotWriter, copyRange, writeStream, type SourceRange } from '../slots/writer.js';
import { SlotReadback, rangeDigest, verifySlot } from '../slots/readback.js';
import { inlineSha256, type DigestWorker, type Sha256Sink } from '../slots/digest.js';
import type { SlotName } from '../slots/model.js';
import { checkPolicy, MissingPayloadError } from './policy.js';
import { ReadbackError, SlotStateError } from '../slots/errors.js';
import { DigestError } from '../bundle/errors.js';
import { locateBundle } from '../bundle/locate.js';
import type { FileSystem } from '../platform/fs.js';
import { readDevice, type Device } from './device.js';

export const ROOTFS = 'rootfs';

export interface PreparedInstall {
  target: SlotName;
  booted: SlotName;
  payload: PayloadEntry;
  writer: SlotWriter;
}

/** Checks policy and opens the inactive slot. Disarms a pending trial of that slot first. */
export async function prepareInstall(dev: Device, manifest: Manifest): Promise<PreparedInstall> {
  const view = await readDevice(dev);
  if (view.slots.trial && view.slots.primary === view.slots.booted) {
    // The other slot is what this trial falls back to: overwriting it would leave nothing to fall back on.
    throw new SlotStateError(`slot ${view.slots.booted} is on trial: commit it (mark-good) or roll back before installing again`, {
      details: { booted: view.slots.booted },
    });
  }
  checkPolicy(manifest, dev.config.board.name, view.state, view.slots.booted);
  const payload = findPayload(manifest, ROOTFS);
  if (!payload) throw new MissingPayloadError(`bundle has no ${ROOTFS} payload (it has ${manifest.payloads.map((p) => p.name).join(', ')})`);
  const target = view.slots.inactive;
  const writer = await SlotWriter.open(dev.fs, dev.config.slots[target], dev.config.slots[view.slots.booted]);
  try {
    writer.checkFits(payload.size);
    if (view.slots.primary === target) {
      // The bootloader would try the slot we are about to overwrite: point it home first.
      await dev.env.update({ [dev.config.slotVariable]: view.slots.booted, upgrade_available: '0', bootcount: '0' });
    }
    await dev.state.setSlot(target, null);
  } catch (err) {
    await writer.close();
    throw err;
  }
  return { target, booted: view.slots.booted, payload, writer };
}

/**
 * Reads the slot back, records what it holds, and arms the trial boot in one env write.
 * `readback`, when given, has already read back the synced front of the slot while it was
 * being written (the local install); it reads the rest here. Otherwise the whole slot is
 * read back now.
 */
export async function finishInstall(dev: Device, prep: PreparedInstall, manifest: Manifest, releaseId: string, readback?: SlotReadback): Promise<void> {
  // Durable before it is judged: whatever wrote the slot, nothing is armed on unsynced data.
  await prep.writer.datasync();
  await prep.writer.close();
  if (readback) await readback.finish(prep.payload.sha256);
  else await verifySlot(dev.fs, dev.config.slots[prep.target].device, prep.payload.size, prep.payload.sha256, dev.config.bufferSize);
  await dev.state.setSlot(prep.target, {
    version: manifest.version,
    securityVersion: manifest.securityVersion,
    sha256: prep.payload.sha256,
    size: prep.payload.size,
    releaseId,
    installedAt: new Date().toISOString(),
  });
  const env = await dev.env.read();
  await dev.env.update({
    [dev.config.slotVariable]: prep.target,
    upgrade_available: '1',
    bootcount: '0',
    ...(env.has('bootlimit') ? {} : { bootlimit: String(dev.config.bootlimit) }),
  });
}

export interface InstallResult {
  slot: SlotName;
  /** How the rootfs was read: from its offset in the bundle file, or through the tar stream. */
  read: 'direct' | 'stream';
  version: string;
  securityVersion: number;
  releaseId: string;
  bytes: number;
  seconds: number;
}

export interface InstallProgress {
  (phase: 'write' | 'verify', done: number, total: number): void;
}

/** Below this size hashes run on the main thread: a worker costs more to start than it saves. */
export const OFF_THREAD_MIN = 16 * 1024 * 1024;

export interface InstallOptions {
  /** Hash the read-back on this worker thread (payloads of OFF_THREAD_MIN and more). */
  digests?: DigestWorker;
  /**
   * The rootfs bytes as a range of the bundle file (src/bundle/direct.ts): copied into the slot
   * with positioned reads, the bundle's payload streams left unread. Proven by the read-back.
   */
  rootfsRange?: SourceRange;
}

function readbackSink(size: number, bufferSize: number, digests: DigestWorker | undefined): Sha256Sink {
  return digests && size >= OFF_THREAD_MIN ? digests.sink(bufferSize, 4) : inlineSha256(bufferSize, 2);
}

/**
 * Installs the rootfs payload of an opened (signature-checked) bundle. The slot is synced
 * every few MiB while it is written, and each synced range is read back and hashed (on a
 * worker) while later ranges are written; finishInstall reads back the last range after the
 * final sync and compares the digest of the whole slot before state or env are touched.
 */
export async function installBundle(dev: Device, bundle: OpenedBundle, releaseId: string, onProgress?: InstallProgress, opts: InstallOptions = {}): Promise<InstallResult> {
  const started = performance.now();
  const prep = await prepareInstall(dev, bundle.manifest);
  const size = prep.payload.size;
  // The verify bar follows the write bar: read-back progress made during the write is shown after it.
  let verified = 0;
  let writing = true;
  const readback = new SlotReadback(dev.fs, prep.writer.device, size, readbackSink(size, dev.config.bufferSize, opts.digests), (n) => {
    verified = n;
    if (!writing) onProgress?.('verify', n, size);
  });
  let written = 0;
  const writeOptions = {
    bufferSize: dev.config.bufferSize,
    expectedSize: size,
    onProgress: (n: number) => onProgress?.('write', n, size),
    onDurable: (n: number) => readback.advance(n),
  };
  try {
    if (opts.rootfsRange) {
      if (opts.rootfsRange.length !== size) throw new Error(`rootfs range of ${opts.rootfsRange.length} bytes for a payload of ${size}`);
      written = await copyRange(prep.writer, opts.rootfsRange, writeOptions);
    } else {
      for await (const { entry, stream } of bundle.payloads()) {
        if (entry.name !== ROOTFS) {
          await drain(stream);
          continue;
        }
        written = await writeStream(prep.writer, stream, writeOptions);
      }
    }
  } catch (err) {
    // The write failed; the error that matters is that one, not a close error after it.
    await readback.abort().catch(() => undefined);
    await prep.writer.close().catch(() => undefined);
    throw err;
  }
  writing = false;
  onProgress?.('verify', verified, size);
  try {
    await finishInstall(dev, prep, bundle.manifest, releaseId, readback);
  } catch (err) {
    // finish() releases the read-back itself; this covers a failure before it (the final sync).
    await readback.abort().catch(() => undefined);
    throw err;
  }
  onProgress?.('verify', size, size);
  return {
    slot: prep.target,
    read: opts.rootfsRange ? 'direct' : 'stream',
    version: bundle.manifest.version,
    securityVersion: bundle.manifest.securityVersion,
    releaseId,
    bytes: written,
    seconds: (performance.now() - started) / 1000,
  };
}

async function drain(stream: Readable): Promise<void> {
  for await (const piece of stream) void piece;
}

/**
 * `slotflip install` of a bundle file takes the rootfs unhashed and proves it by the read-back
 * alone (one SHA-256 pass, not two; decision D8). When the read-back differs from the signed
 * digest, this says whose fault it is: the bundle's, if its payload hashes wrong in the file
 * too (SF_ERR_DIGEST, as the stream's own hash would have said), or else the slot's (the
 * read-back error as it was). Only a failed install pays for the second pass.
 */
export async function blameReadback(fs: FileSystem, bundleFile: string, payload: PayloadEntry, bufferSize: number, err: unknown): Promise<unknown> {
  if (!(err instanceof ReadbackError)) return err;
  let actual: string;
  try {
    const located = (await locateBundle(fs, bundleFile)).payloads.get(payload.name);
    if (!located || located.size !== payload.size) return err;
    actual = await rangeDigest(fs, bundleFile, located.offset, located.size, bufferSize);
  } catch {
    return err; // the file is gone or changed since: nothing to say beyond the read-back
  }
  if (actual === payload.sha256) return err;
  return new DigestError(`payload ${payload.name}: SHA-256 ${actual} differs from the manifest's ${payload.sha256}`, {
    details: { payload: payload.name, expected: payload.sha256, actual },
    cause: err,
  });
}
