// The fleet's broker locked down as examples/mosquitto ships it: no anonymous clients, a
// password per device, per-device ACLs, TLS. Updates still flow with device credentials; a
// device (or whoever stole its password) cannot speak for the operator or for other devices,
// nor read their commands; a client that does not trust the fleet's CA never connects.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt from 'mqtt';
import { publishBundle } from '../../src/operator/publish.js';
import { announceTopic, deviceTopics, releaseTopics } from '../../src/transfer/topics.js';
import { deviceEnv, deviceState, makeBundle, runInProcess } from '../agent/fleet.js';
import { login, makeCertificates, makeSecureFleet, startSecureMosquitto, type SecureBroker } from './broker.js';

const USERS = ['operator', 'd1', 'd2', 'd3', 'spy', 't1'];

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

/** Collects the messages `watcher` receives until one arrives on `sentinelTopic`. */
async function untilSentinel(watcher: mqtt.MqttClient, sentinelTopic: string, act: () => Promise<void>): Promise<Seen[]> {
  const seen: Seen[] = [];
  let onMessage!: (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => void;
  const done = new Promise<void>((resolve) => {
    onMessage = (topic, payload, packet) => {
      seen.push({ topic, payload: payload.toString(), retain: packet.retain });
      if (topic === sentinelTopic) resolve();
    };
  });
  watcher.on('message', onMessage);
  try {
    await act();
    await done;
  } finally {
    watcher.off('message', onMessage);
  }
  return seen;
}

async function updateOver(b: SecureBroker, url: string, id: string): Promise<void> {
  const fleet = await makeSecureFleet(b, url, [id]);
  const run = runInProcess(fleet);
  const op = await login(url, b, 'operator');
  try {
    const envBefore = await deviceEnv(fleet, id);
    assert.equal(envBefore.get('slotflip_slot'), 'a');
    const bundle = await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} }, { size: 4 * 1024 * 1024 });
    const r = await publishBundle({ client: op, bundle, devices: [id], wait: true, timeoutMs: 60_000 });
    assert.equal(r.outcomes.get(id), 'committed', run.logs.join('\n'));
    const env = await deviceEnv(fleet, id);
    assert.equal(env.get('slotflip_slot'), 'b');
    assert.equal(env.get('upgrade_available'), '0');
    assert.equal((await deviceState(fleet, id)).state.slots.b?.version, '2.0.0');
  } finally {
    await op.endAsync();
    await run.stop();
    await fleet.stop();
  }
}

describe('mosquitto with passwords, per-device ACLs and TLS (examples/mosquitto)', () => {
  let b: SecureBroker;
  before(async () => {
    b = await startSecureMosquitto(USERS);
  });
  after(async () => {
    await b.close();
  });

  test('anonymous clients and wrong passwords are refused at connect', { timeout: 20_000 }, async () => {
    await assert.rejects(mqtt.connectAsync(b.url, { clientId: 'sf-anon', reconnectPeriod: 0, connectTimeout: 5000 }), /Not authorized|Connection refused/i);
    await assert.rejects(login(b.url, b, 'd1', { password: 'wrong' }), /Not authorized|Bad User Name or Password|Connection refused/i);
    await assert.rejects(login(b.url, b, 'nobody', { password: 'x' }), /Not authorized|Bad User Name or Password|Connection refused/i);
    const ok = await login(b.url, b, 'd1');
    await ok.endAsync();
  });

  test('a full update succeeds with device credentials under the ACL', { timeout: 90_000 }, async () => {
    await updateOver(b, b.url, 'd1');
  });

  test('a device cannot publish announcements, releases, commands or another device\'s status: the broker drops them', { timeout: 20_000 }, async () => {
    const watcher = await login(b.url, b, 'operator');
    // MQTT 5, so the broker also tells the rogue why (PUBACK reason 0x87, not authorized).
    const rogue = await login(b.url, b, 'd2', { protocolVersion: 5 });
    try {
      await watcher.subscribeAsync('slotflip/#', { qos: 1 });
      const rel = releaseTopics(undefined, 'host-sim', '0123456789abcdef');
      const victim = deviceTopics(undefined, 'victim');
      const forbidden = [
        { topic: announceTopic(undefined, { board: 'host-sim' }), retain: true },
        { topic: announceTopic(undefined, { group: 'everyone' }), retain: true },
        { topic: announceTopic(undefined, { device: 'victim' }), retain: true },
        { topic: rel.manifest, retain: true },
        { topic: rel.chunks, retain: false },
        { topic: victim.status, retain: true },
        { topic: victim.events, retain: false },
        { topic: victim.commands, retain: false },
        { topic: deviceTopics(undefined, 'd2').commands, retain: false },
      ];
      const sentinel = deviceTopics(undefined, 'd2').status;
      const refusals: string[] = [];
      const seen = await untilSentinel(watcher, sentinel, async () => {
        for (const f of forbidden) {
          await rogue.publishAsync(f.topic, Buffer.from('{"rogue":true}'), { qos: 1, retain: f.retain }).catch((err: Error) => refusals.push(f.topic + ': ' + err.message));
        }
        // Its own status is allowed; published last on the same connection, it arrives after
        // anything the broker would have let through before it.
        await rogue.publishAsync(sentinel, Buffer.from('{"sentinel":true}'), { qos: 1, retain: true });
      });
      // (Retained leftovers of earlier tests come with the subscription and are flagged retain;
      // a message passed on live never is, in MQTT 3.1.1.)
      assert.deepEqual(seen.filter((m) => !m.retain).map((m) => m.topic), [sentinel], 'only the device\'s own status got through');
      assert.equal(refusals.length, forbidden.length, `every forbidden publish was refused to the rogue: ${refusals.join('; ')}`);
      // Nothing forbidden was retained either: a fresh subscriber finds no rogue announcement.
      // Retained messages of one SUBSCRIBE are sent before the next one is handled, so the
      // retained sentinel, subscribed to second, comes after anything retained under the first.
      const late = await login(b.url, b, 'operator');
      const retained = await untilSentinel(late, sentinel, async () => {
        await late.subscribeAsync(['slotflip/announce/#', 'slotflip/releases/#', 'slotflip/devices/victim/#'], { qos: 1 });
        await late.subscribeAsync(sentinel, { qos: 1 });
      });
      await late.endAsync();
      assert.deepEqual(retained.filter((m) => m.payload.includes('rogue')), []);
      assert.equal(retained.at(-1)?.topic, sentinel);
    } finally {
      await rogue.endAsync();
      await watcher.endAsync();
    }
  });

  test('a device cannot read another device\'s commands', { timeout: 20_000 }, async () => {
    const op = await login(b.url, b, 'operator');
    const spy = await login(b.url, b, 'd3', { protocolVersion: 5 });
    try {
      const own = deviceTopics(undefined, 'd3').commands;
      const other = deviceTopics(undefined, 'd1').commands;
      await spy.subscribeAsync([other, 'slotflip/devices/+/commands', own], { qos: 1 });
      const seen = await untilSentinel(spy, own, async () => {
        await op.publishAsync(other, Buffer.from('for d1 only'), { qos: 1 });
        await op.publishAsync(own, Buffer.from('for d3'), { qos: 1 });
      });
      assert.deepEqual(seen.filter((m) => m.payload === 'for d1 only'), [], 'd1\'s command never reached d3');
      assert.ok(seen.some((m) => m.topic === own && m.payload === 'for d3'));
    } finally {
      await spy.endAsync();
      await op.endAsync();
    }
  });

  test('TLS: a full update succeeds over mqtts:// with the fleet CA', { timeout: 90_000 }, async () => {
    await updateOver(b, b.tlsUrl, 't1');
  });

  test('TLS: a client without the fleet CA, or speaking plain MQTT to the TLS port, is refused', { timeout: 30_000 }, async () => {
    const user = { username: 'd1', password: b.passwords.get('d1')!, reconnectPeriod: 0, connectTimeout: 5000 };
    await assert.rejects(mqtt.connectAsync(b.tlsUrl, { ...user, clientId: 'sf-noca' }), (err: NodeJS.ErrnoException) => {
      assert.match(String(err.code), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
      return true;
    });
    // Another fleet's CA is no better.
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-other-ca-'));
    try {
      const other = await makeCertificates(dir);
      await assert.rejects(mqtt.connectAsync(b.tlsUrl, { ...user, clientId: 'sf-otherca', ca: await fsp.readFile(other.ca) }), (err: NodeJS.ErrnoException) => {
        assert.match(String(err.code), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_SIGNATURE_FAILURE/);
        return true;
      });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
    const plain = b.tlsUrl.replace('mqtts:', 'mqtt:');
    await assert.rejects(mqtt.connectAsync(plain, { ...user, clientId: 'sf-plain' }));
    const ok = await login(b.tlsUrl, b, 'd1');
    await ok.endAsync();
  });
});
