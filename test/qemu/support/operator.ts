// The operator's side of the QEMU update scenarios, on the host: a mosquitto on loopback (the
// guest reaches it through QEMU's guestfwd), a signing key the images trust, the device config
// the images carry, bundles of slot images, signed commands, and a watch on the device status.
import * as fs from 'node:fs';
import * as path from 'node:path';
import mqtt from 'mqtt';
import { generateSigningKeyPair, loadPrivateKey, writeKeyPair } from '../../../src/crypto/keys.js';
import { createBundle } from '../../../src/bundle/create.js';
import { signCommand, type CommandType } from '../../../src/agent/commands.js';
import { deviceTopics } from '../../../src/transfer/topics.js';
import { publishBundle, readBundleForServing, type PublishResult } from '../../../src/operator/publish.js';
import { releaseId as releaseIdOf } from '../../../src/bundle/manifest.js';
import { realFs } from '../../../src/platform/fs.js';
import { startMosquitto, type Mosquitto } from '../../transfer/support.js';
import { watchStatus } from '../../agent/fleet.js';
import { GUEST_BROKER } from '../../../qemu/vm.js';

/** Where the images keep the operator's public key. */
export const GUEST_KEY = '/etc/slotflip/keys/operator.pem';

export interface Operator {
  broker: Mosquitto;
  client: mqtt.MqttClient;
  status: Awaited<ReturnType<typeof watchStatus>>;
  privateKey: string;
  publicKeyPem: string;
  /** A second key pair the device does not trust. */
  untrustedKey: string;
  deviceId: string;
  close(): Promise<void>;
}

export async function startOperator(dir: string, deviceId: string): Promise<Operator> {
  const keys = await writeKeyPair(path.join(dir, 'keys'), generateSigningKeyPair());
  const rogue = await writeKeyPair(path.join(dir, 'rogue-keys'), generateSigningKeyPair());
  const broker = await startMosquitto();
  const client = await mqtt.connectAsync(broker.url, { clientId: `sf-qemu-op-${process.pid}`, reconnectPeriod: 200 });
  const status = await watchStatus(broker.url);
  return {
    broker, client, status, deviceId,
    privateKey: keys.privateFile,
    publicKeyPem: fs.readFileSync(keys.publicFile, 'utf8'),
    untrustedKey: rogue.privateFile,
    async close() {
      await status.close();
      await client.endAsync(true);
      await broker.close();
    },
  };
}

/** Boards whose guest agent feeds the watchdog in the suite. */

/**
 * The device config every image carries. Node starts slowly under emulation (MIPS: about
 * 26 s for a first `node -e 1`), so the worker's health window is wide there.
 */
export function deviceConfig(board: string, deviceId: string, healthWindowSeconds: number): unknown {
  return {
    deviceId,
    board,
    dataDir: '/data/slotflip',
    trustedKeys: [GUEST_KEY],
    broker: { url: `mqtt://${GUEST_BROKER.host}:${GUEST_BROKER.port}`, keepaliveSeconds: 15 },
    worker: {
      command: ['node', '/opt/slotflip-worker/server.mjs'],
      env: { PORT: '8080' },
      healthWindowSeconds,
      trialSeconds: 5,
      heartbeatTimeoutSeconds: 30,
    },
    syncEveryChunks: 8,
    // The agent feeds the board's watchdog (arm64 i6300esb 5 s, armhf softdog 10 s, mips64el
    // softdog 60 s) every second: the suite then shows it never resets a healthy guest, through
    // downloads, installs and reboots.
    watchdog: { device: '/dev/watchdog', intervalSeconds: 1 },
  };
}

/** A bundle of one slot image (`rootfs` payload) for `board`, signed by `privateKey`. */
export async function makeBundle(o: { board: string; version: string; image: string; privateKey: string; out: string }): Promise<string> {
  const out = fs.createWriteStream(o.out);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  await createBundle({ boards: [o.board], version: o.version, payloads: [{ name: 'rootfs', file: o.image }], privateKey: await loadPrivateKey(o.privateKey) }, out);
  await done;
  return o.out;
}

export function publish(op: Operator, bundle: string, timeoutMs: number): Promise<PublishResult> {
  return publishBundle({ client: op.client, bundle, devices: [op.deviceId], wait: true, timeoutMs });
}

export async function sendCommand(op: Operator, type: CommandType): Promise<void> {
  const signed = signCommand({ type, deviceId: op.deviceId }, fs.readFileSync(op.privateKey));
  await op.client.publishAsync(deviceTopics(undefined, op.deviceId).commands, signed, { qos: 1 });
}

/** The device's latest retained status (undefined before its first report). */
export function latest(op: Operator) {
  return op.status.latest.get(op.deviceId);
}

/**
 * Ends a publishBundle call that waits on this device without an outcome (it has no abort):
 * hands its status handler, in this process only, a 'failed' result for the release. For a
 * scenario that has already seen the device go wrong and must not wait out the timeout.
 */
export async function abandonPublish(op: Operator, bundle: string, board: string): Promise<void> {
  const b = await readBundleForServing(realFs, bundle);
  const report = { deviceId: op.deviceId, board, state: 'idle', lastResult: { result: 'failed', releaseId: releaseIdOf(b.manifestBytes), version: null, at: new Date().toISOString() } };
  op.client.emit('message', deviceTopics(undefined, op.deviceId).status, Buffer.from(JSON.stringify(report)), {} as never);
}
