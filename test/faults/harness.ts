// One fault run: a small fleet of simulated devices (real agents) behind an optional fault
// proxy, a real release served by publishBundle, an optional rogue publisher; then every
// device's outcome is read from its own files and the never-a-wrong-slot invariant is checked.

import * as path from 'node:path';
import * as fsp from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { createBundle } from '../../src/bundle/create.js';
import { releaseId as computeReleaseId } from '../../src/bundle/manifest.js';
import { generateSigningKeyPair, loadPrivateKey, writeKeyPair } from '../../src/crypto/keys.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { publishBundle, readBundleForServing, type DeviceOutcome } from '../../src/operator/publish.js';
import { realFs } from '../../src/platform/fs.js';
import { encodeEnvelope } from '../../src/transfer/envelope.js';
import { SIM_HEADER_BYTES, simRootfsImage } from '../../src/simulator/rootfs.js';
import { deviceEnv, deviceState, makeFleet, runInProcess, watchStatus, type Fleet } from '../agent/fleet.js';
import type { Broker } from '../transfer/support.js';
import { FaultProxy, seededRandom, type FaultPlan, type ProxyStats } from './proxy.js';
import { RoguePublisher, type RogueOptions, type RogueStats } from './rogue.js';

export interface RunSpec {
  seed: number;
  broker: Broker;
  /** Device ids; unique per run on a shared broker. */
  ids: string[];
  imageBytes: number;
  chunkSize?: number;
  proxy?: Omit<FaultPlan, 'seed'>;
  rogue?: Omit<RogueOptions, 'url' | 'board' | 'releaseId' | 'seed'>;
  /** Also publish a forged release (untrusted key) on the board's announcement topic before the real one. */
  forgedRelease?: boolean;
  /** Once the transfer runs, overwrite the real release's retained manifest with this forged envelope. */
  overwriteManifest?: 'forged' | 'garbage';
  timeoutMs: number;
}

export interface DeviceResult {
  outcome: DeviceOutcome;
  /** The device's journal error code, when it failed. */
  code: string | undefined;
  slot: string | undefined;
  upgradeAvailable: string | undefined;
  /** The device put the release on its rejected list (it will not try it again). */
  rejected: boolean;
}

export interface RunResult {
  seed: number;
  ms: number;
  devices: Map<string, DeviceResult>;
  /** Broken promises: a flipped env over a slot that is not a verified image, a wrong commit, no outcome. */
  violations: string[];
  /** Failures without a typed SF_ERR_* code (SF_ERR_INTERNAL): the device stayed safe, but the error says nothing. */
  untyped: string[];
  proxy: ProxyStats | undefined;
  rogue: RogueStats | undefined;
  bytesSent: number;
  logs: string[];
}

async function sha256Prefix(file: string, length: number): Promise<string | undefined> {
  const fh = await fsp.open(file, 'r');
  try {
    if ((await fh.stat()).size < length) return undefined;
    const h = createHash('sha256');
    const buf = Buffer.alloc(1024 * 1024);
    for (let off = 0; off < length; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - off), off);
      if (bytesRead === 0) return undefined;
      h.update(buf.subarray(0, bytesRead));
      off += bytesRead;
    }
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}

/** A bootable sim image whose body is seeded random bytes (no all-zero chunks: every chunk travels). */
export async function buildBundle(dir: string, o: { version: string; size: number; seed: number; privateKey: string; chunkSize?: number }): Promise<{ bundle: string; image: string; sha256: string }> {
  const img = simRootfsImage({ version: o.version, kernel: 'ok', worker: {} }, o.size);
  const rand = seededRandom(o.seed);
  for (let off = SIM_HEADER_BYTES; off + 4 <= img.length; off += 4) img.writeUInt32LE(Math.floor(rand() * 2 ** 32), off);
  const image = path.join(dir, `rootfs-${o.version}-${o.seed}.img`);
  await fsp.writeFile(image, img);
  const bundle = image.replace(/\.img$/, '.sfb');
  const out = createWriteStream(bundle);
  await createBundle(
    { boards: ['host-sim'], version: o.version, payloads: [{ name: 'rootfs', file: image }], privateKey: await loadPrivateKey(o.privateKey), ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}) },
    out,
  );
  if (!out.closed) await once(out, 'close');
  return { bundle, image, sha256: createHash('sha256').update(img).digest('hex') };
}

async function bounded(p: Promise<unknown>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Points each device's config at another broker URL (the proxy). */
async function repoint(fleet: Fleet, url: string): Promise<void> {
  for (const file of fleet.devices.values()) {
    const c = JSON.parse(await fsp.readFile(file, 'utf8')) as { broker: { url: string } };
    c.broker.url = url;
    await fsp.writeFile(file, JSON.stringify(c, null, 2) + '\n');
  }
}

export async function faultRun(spec: RunSpec): Promise<RunResult> {
  const started = Date.now();
  // A generous window: a trial that fails because a loaded machine started Node slowly proves nothing here.
  const fleet = await makeFleet(spec.broker.url, spec.ids, { healthWindowSeconds: 15, slotSize: 2 * spec.imageBytes });
  const proxy = spec.proxy ? await FaultProxy.start(spec.broker.port, { ...spec.proxy, seed: spec.seed }) : undefined;
  if (proxy) await repoint(fleet, proxy.url);
  // The base image each device runs, as laid out by createSimDevice (its state records the digest).
  const base = new Map<string, { sha256: string; size: number }>();
  for (const id of spec.ids) {
    const a = (await deviceState(fleet, id)).state.slots.a!;
    base.set(id, { sha256: a.sha256, size: a.size });
  }
  const release = await buildBundle(fleet.dir, { version: '2.0.0', size: spec.imageBytes, seed: spec.seed, privateKey: fleet.privateKey, chunkSize: spec.chunkSize ?? 64 * 1024 });
  const served = await readBundleForServing(realFs, release.bundle);
  const rid = computeReleaseId(served.manifestBytes);
  const manifestSha = served.manifest.payloads[0]!.sha256;
  const violations: string[] = [];
  if (manifestSha !== release.sha256) violations.push(`bundle manifest digest ${manifestSha} is not the image's ${release.sha256}`);

  const run = runInProcess(fleet);
  const op = await mqtt.connectAsync(spec.broker.url, { clientId: `sf-fault-op-${spec.seed}-${spec.ids[0]}`, reconnectPeriod: 200 });
  let rogue: RoguePublisher | undefined;
  const retained: string[] = [];
  let forgedRid: string | undefined;
  let result: Awaited<ReturnType<typeof publishBundle>> | undefined;
  try {
    if (spec.rogue || spec.forgedRelease || spec.overwriteManifest) {
      rogue = await RoguePublisher.start({ ...(spec.rogue ?? { kinds: [], ratePerSecond: 1, durationMs: 0 }), url: spec.broker.url, board: 'host-sim', releaseId: rid, seed: spec.seed });
    }
    let forged: { manifestBytes: Buffer; sigBytes: Buffer } | undefined;
    if (spec.forgedRelease || spec.overwriteManifest === 'forged') {
      const keys = await writeKeyPair(path.join(fleet.dir, 'rogue-keys'), generateSigningKeyPair());
      const f = await buildBundle(fleet.dir, { version: '9.9.9', size: 64 * 1024, seed: spec.seed + 1, privateKey: keys.privateFile });
      forged = await readBundleForServing(realFs, f.bundle);
    }
    if (spec.forgedRelease && rogue && forged) {
      forgedRid = computeReleaseId(forged.manifestBytes);
      // Forged while the devices are idle, and refused before the real release comes.
      const watch = await watchStatus(spec.broker.url);
      try {
        await watch.waitFor((m) => spec.ids.every((id) => m.get(id)?.online === true), 30_000, 'the devices to come online');
        retained.push(...(await rogue.forgeRelease({ ...forged, releaseId: forgedRid, version: '9.9.9' })));
        await watch.waitFor((m) => spec.ids.every((id) => m.get(id)?.lastError?.code === 'SF_ERR_UNTRUSTED_KEY'), 30_000, 'the forged release to be refused');
      } finally {
        await watch.close();
      }
    }
    if (spec.overwriteManifest && rogue) {
      const r = rogue;
      const payload = forged ? encodeEnvelope(forged.manifestBytes, forged.sigBytes) : Buffer.from('SFMF garbage');
      // Once the first real frame has gone by, the devices are past their manifest fetch.
      void r.firstFrame.then(() => r.overwriteManifest(payload)).catch((err: unknown) => violations.push(`rogue could not overwrite the manifest: ${String(err)}`));
    }
    proxy?.arm();
    result = await publishBundle({ client: op, bundle: release.bundle, devices: spec.ids, wait: true, timeoutMs: spec.timeoutMs });
  } finally {
    await rogue?.close(retained);
    await op.endAsync();
    // A device that cannot stop is a hang worth naming, not a test that never ends.
    await bounded(run.stop(), 30_000, `the devices ${spec.ids.join(', ')} did not stop within 30 s (seed ${spec.seed})`);
    await proxy?.close();
  }

  const devices = new Map<string, DeviceResult>();
  const untyped: string[] = [];
  for (const id of spec.ids) {
    const outcome = result.outcomes.get(id) ?? 'timeout';
    const env = await deviceEnv(fleet, id);
    const config = loadDeviceConfig(fleet.devices.get(id)!);
    const { state, journal } = await deviceState(fleet, id);
    const slot = env.get(config.slotVariable);
    const upgradeAvailable = env.get('upgrade_available');
    const code = journal.lastError?.code;
    devices.set(id, { outcome, code: outcome === 'committed' ? undefined : code, slot, upgradeAvailable, rejected: journal.rejected.includes(rid) });
    // The invariant, whatever the outcome: the env points at a slot holding a verified image.
    const file = slot === 'a' || slot === 'b' ? config.slots[slot].device : undefined;
    const b = base.get(id)!;
    const holds = file && ((await sha256Prefix(file, b.size)) === b.sha256 || (await sha256Prefix(file, spec.imageBytes)) === manifestSha);
    if (!holds) violations.push(`${id}: env points at slot ${slot}, which holds neither the base image nor release ${rid}`);
    if (forgedRid && !run.logs.some((l) => l.startsWith(`${id} release ${forgedRid} refused: SF_ERR_UNTRUSTED_KEY`))) {
      violations.push(`${id}: the forged release ${forgedRid} was not refused as signed by an untrusted key`);
    }
    if (outcome === 'committed') {
      const good = slot === 'b' && upgradeAvailable === '0' && (await sha256Prefix(config.slots.b.device, spec.imageBytes)) === release.sha256 && state.committed === 'b';
      if (!good) violations.push(`${id}: reported committed but env slot=${slot} upgrade_available=${upgradeAvailable} committed=${state.committed}`);
    } else if (outcome === 'failed') {
      if (!code || !/^SF_ERR_[A-Z_]+$/.test(code) || code === 'SF_ERR_INTERNAL') untyped.push(`${id}: failed without a typed code: ${code} ${journal.lastError?.message}`);
      if (slot !== 'a' || upgradeAvailable !== '0') violations.push(`${id}: failed but env slot=${slot} upgrade_available=${upgradeAvailable}`);
    } else {
      violations.push(`${id}: no outcome but ${outcome} within ${spec.timeoutMs} ms (journal ${journal.state}, last error ${code})`);
    }
  }
  const out: RunResult = { seed: spec.seed, ms: Date.now() - started, devices, violations, untyped, proxy: proxy?.stats, rogue: rogue?.stats, bytesSent: result.bytesSent, logs: run.logs };
  await fleet.stop();
  return out;
}

/** One line per run for the test log: outcomes, codes, what the faults did. */
export function describeRun(label: string, r: RunResult): string {
  const outcomes = [...r.devices].map(([id, d]) => `${id}=${d.outcome}${d.code ? `(${d.code}${d.rejected ? ', rejected' : ''})` : ''}`).join(' ');
  const p = r.proxy ? ` proxy: ${r.proxy.connections} conns, ${r.proxy.drops} drops, ${r.proxy.stalls} stalls/${r.proxy.stalledMs} ms, ${r.proxy.splitWrites} split writes/${r.proxy.pieces} pieces, ${r.proxy.delays} delays` : '';
  const g = r.rogue ? ` rogue: ${Object.entries(r.rogue.sent).map(([k, n]) => `${k}=${n}`).join(' ')}${r.rogue.retained ? ` retained=${r.rogue.retained}` : ''}` : '';
  return `${label} seed ${r.seed}: ${outcomes} in ${(r.ms / 1000).toFixed(1)} s, ${(r.bytesSent / 1048576).toFixed(1)} MiB sent;${p}${g}`;
}
