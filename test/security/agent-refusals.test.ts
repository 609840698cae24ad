// The running agent over MQTT (in-process aedes): key rotation end to end, and refusals of
// releases and operator commands that must leave the booted slot and the env byte-identical
// while the typed code reaches the journal and the status topic.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import type { KeyObject } from 'node:crypto';
import mqtt from 'mqtt';
import { createBundle } from '../../src/bundle/create.js';
import { endorseKey } from '../../src/bundle/endorsement.js';
import type { Endorsement } from '../../src/bundle/signature.js';
import { generateSigningKeyPair, keyIdOf, loadPrivateKey } from '../../src/crypto/keys.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { StateStore } from '../../src/install/state.js';
import { realFs } from '../../src/platform/fs.js';
import { simRootfsImage } from '../../src/simulator/rootfs.js';
import { publishBundle } from '../../src/operator/publish.js';
import { signCommand } from '../../src/agent/commands.js';
import { deviceTopics } from '../../src/transfer/topics.js';
import { startAedes, type Broker } from '../transfer/support.js';
import { deviceState, makeFleet, runInProcess, watchStatus, type Fleet } from '../agent/fleet.js';

/** SHA-256 of the booted slot's image and of the env storage: what a refusal must not touch. */
async function fingerprint(fleet: Fleet, id: string): Promise<{ booted: string; env: string }> {
  const c = loadDeviceConfig(fleet.devices.get(id)!);
  const hash = async (f: string) => createHash('sha256').update(await fsp.readFile(f)).digest('hex');
  const booted = (await fsp.readFile(path.join(path.dirname(c.file!), 'booted-slot'), 'utf8')).trim() as 'a' | 'b';
  const envFiles = c.env.backend === 'file' ? [c.env.path] : [...new Set(c.env.copies.map((e) => e.device))];
  return { booted: `${booted}:${await hash(c.slots[booted].device)}`, env: (await Promise.all(envFiles.map(hash))).join(' ') };
}

async function bundle(fleet: Fleet, version: string, o: { key?: KeyObject; endorsement?: Endorsement; expires?: Date; securityVersion?: number } = {}): Promise<string> {
  const image = path.join(fleet.dir, `rootfs-${version}-${Math.random().toString(36).slice(2)}.img`);
  await fsp.writeFile(image, simRootfsImage({ version, kernel: 'ok', worker: {} }, 1024 * 1024));
  const file = image.replace(/\.img$/, '.sfb');
  const out = createWriteStream(file);
  await createBundle(
    {
      boards: ['host-sim'],
      version,
      payloads: [{ name: 'rootfs', file: image }],
      privateKey: o.key ?? (await loadPrivateKey(fleet.privateKey)),
      ...(o.endorsement ? { endorsement: o.endorsement } : {}),
      ...(o.expires ? { expires: o.expires } : {}),
      ...(o.securityVersion !== undefined ? { securityVersion: o.securityVersion } : {}),
    },
    out,
  );
  await finished(out);
  return file;
}

async function editConfig(fleet: Fleet, id: string, patch: Record<string, unknown>): Promise<void> {
  const file = fleet.devices.get(id)!;
  await fsp.writeFile(file, JSON.stringify({ ...JSON.parse(await fsp.readFile(file, 'utf8')), ...patch }, null, 2));
}

describe('the agent over MQTT: rotation and refusals', () => {
  let broker: Broker;
  before(async () => {
    broker = await startAedes();
  });
  after(async () => {
    await broker.close();
  });

  test('a device that trusts only the old key commits a release signed by the endorsed new key', { timeout: 60_000 }, async () => {
    const fleet = await makeFleet(broker.url, ['r1']);
    const run = runInProcess(fleet);
    const op = await mqtt.connectAsync(broker.url, { clientId: 'sf-sec-op-rot' });
    try {
      const next = generateSigningKeyPair();
      const endorsement = endorseKey(next.publicKey, await loadPrivateKey(fleet.privateKey), { notAfter: new Date(Date.now() + 3600_000) });
      const r = await publishBundle({ client: op, bundle: await bundle(fleet, '2.0.0', { key: next.privateKey, endorsement }), devices: ['r1'], wait: true, timeoutMs: 45_000 });
      assert.equal(r.outcomes.get('r1'), 'committed', run.logs.join('\n'));
      assert.equal((await deviceState(fleet, 'r1')).state.slots.b?.version, '2.0.0');
      assert.notEqual(keyIdOf(next.publicKey), endorsement.keyId);
    } finally {
      await op.endAsync();
      await run.stop();
      await fleet.stop();
    }
  });

  test('releases refused with their code, booted slot and env byte-identical: revoked (even endorsed), expired endorsement, expired manifest, lower security version', { timeout: 120_000 }, async () => {
    const fleet = await makeFleet(broker.url, ['x1']);
    const old = await loadPrivateKey(fleet.privateKey);
    const revokedNew = generateSigningKeyPair();
    const other = generateSigningKeyPair();
    await editConfig(fleet, 'x1', { revokedKeys: [keyIdOf(revokedNew.publicKey)] });
    await new StateStore(realFs, loadDeviceConfig(fleet.devices.get('x1')!).dataDir).update((s) => {
      s.slots.a!.securityVersion = 5;
    });
    const run = runInProcess(fleet);
    const op = await mqtt.connectAsync(broker.url, { clientId: 'sf-sec-op-ref' });
    const watch = await watchStatus(broker.url);
    try {
      const cases = [
        { code: 'SF_ERR_KEY_REVOKED', file: await bundle(fleet, '2.0.0', { key: revokedNew.privateKey, endorsement: endorseKey(revokedNew.publicKey, old) }) },
        { code: 'SF_ERR_ENDORSEMENT_EXPIRED', file: await bundle(fleet, '2.0.1', { key: other.privateKey, endorsement: endorseKey(other.publicKey, old, { notAfter: new Date(Date.now() - 1000) }) }) },
        { code: 'SF_ERR_EXPIRED', file: await bundle(fleet, '2.0.2', { expires: new Date(Date.now() - 1000), securityVersion: 5 }) },
        { code: 'SF_ERR_SECURITY_VERSION', file: await bundle(fleet, '2.0.3', { securityVersion: 4 }) },
      ];
      // The device has booted (and written its boot env) before the first fingerprint.
      await watch.waitFor((m) => m.get('x1')?.online === true, 20_000, 'the device to come online');
      const before = await fingerprint(fleet, 'x1');
      for (const c of cases) {
        const r = await publishBundle({ client: op, bundle: c.file, devices: ['x1'], wait: true, timeoutMs: 20_000 });
        assert.equal(r.outcomes.get('x1'), 'failed', run.logs.join('\n'));
        const { journal, state } = await deviceState(fleet, 'x1');
        assert.equal(journal.lastError?.code, c.code);
        assert.equal(state.slots.b, null);
        assert.deepEqual(await fingerprint(fleet, 'x1'), before, c.code);
      }
      // Control: the same device takes a good release, so the fingerprint can change.
      const good = await publishBundle({ client: op, bundle: await bundle(fleet, '3.0.0', { securityVersion: 5 }), devices: ['x1'], wait: true, timeoutMs: 45_000 });
      assert.equal(good.outcomes.get('x1'), 'committed', run.logs.join('\n'));
      assert.notDeepEqual(await fingerprint(fleet, 'x1'), before);
    } finally {
      await watch.close();
      await op.endAsync();
      await run.stop();
      await fleet.stop();
    }
  });

  test('commands refused with their code, booted slot and env byte-identical: replayed, stale, misaddressed, untrusted, revoked', { timeout: 60_000 }, async () => {
    const fleet = await makeFleet(broker.url, ['c1']);
    const revoked = generateSigningKeyPair();
    const revokedPem = revoked.privateKey.export({ format: 'pem', type: 'pkcs8' });
    const revokedPub = path.join(fleet.dir, 'revoked.pem');
    await fsp.writeFile(revokedPub, revoked.publicKey.export({ format: 'pem', type: 'spki' }));
    const cfg = JSON.parse(await fsp.readFile(fleet.devices.get('c1')!, 'utf8'));
    await editConfig(fleet, 'c1', { trustedKeys: [...cfg.trustedKeys, revokedPub], revokedKeys: [keyIdOf(revoked.publicKey)] });
    const run = runInProcess(fleet);
    const op = await mqtt.connectAsync(broker.url, { clientId: 'sf-sec-op-cmd' });
    const watch = await watchStatus(broker.url);
    const topic = deviceTopics(undefined, 'c1').commands;
    const key = readFileSync(fleet.privateKey);
    let seq = 0;
    const expectRefusal = async (message: Buffer, code: string): Promise<void> => {
      // Each refusal is told apart from the previous one by its time stamp.
      const prior = watch.latest.get('c1')?.lastError?.at;
      await op.publishAsync(topic, message, { qos: 1 });
      await watch.waitFor((m) => m.get('c1')?.lastError?.code === code && m.get('c1')?.lastError?.at !== prior, 10_000, `${code} (#${++seq})`);
    };
    try {
      await watch.waitFor((m) => m.get('c1')?.online === true, 20_000, 'the device to come online');
      // A command executed once (cancel: harmless while idle); its replay must change nothing.
      const cancel = signCommand({ type: 'cancel', deviceId: 'c1' }, key);
      const events = deviceTopics(undefined, 'c1').events;
      const accepted = new Promise<void>((resolve) => {
        op.on('message', (t, payload) => {
          if (t === events && JSON.parse(payload.toString()).kind === 'command-accepted') resolve();
        });
      });
      await op.subscribeAsync(events, { qos: 1 });
      await op.publishAsync(topic, cancel, { qos: 1 });
      await accepted;
      const before = await fingerprint(fleet, 'c1');
      await expectRefusal(cancel, 'SF_ERR_COMMAND_REPLAY');
      await expectRefusal(signCommand({ type: 'rollback', deviceId: 'c1', now: new Date(Date.now() - 3600_000) }, key), 'SF_ERR_COMMAND_EXPIRED');
      await expectRefusal(signCommand({ type: 'rollback', deviceId: 'c2' }, key), 'SF_ERR_COMMAND_TARGET');
      await expectRefusal(signCommand({ type: 'rollback', deviceId: 'c1' }, generateSigningKeyPair().privateKey.export({ format: 'pem', type: 'pkcs8' })), 'SF_ERR_UNTRUSTED_KEY');
      await expectRefusal(signCommand({ type: 'rollback', deviceId: 'c1' }, revokedPem), 'SF_ERR_KEY_REVOKED');
      assert.deepEqual(await fingerprint(fleet, 'c1'), before);
    } finally {
      await watch.close();
      await op.endAsync();
      await run.stop();
      await fleet.stop();
    }
  });
});
