// A mosquitto configured from examples/mosquitto (TLS listener, password file, per-device ACL)
// for the security system tests, plus a CA and server certificate made with openssl and a fleet
// of simulated devices that log in with their own credentials.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { generateSigningKeyPair, writeKeyPair } from '../../src/crypto/keys.js';
import { createSimDevice } from '../../src/simulator/device.js';
import { freePort, startMosquitto, type Mosquitto } from '../transfer/support.js';
import type { Fleet } from '../agent/fleet.js';

const run = promisify(execFile);
const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/mosquitto');
/** Where the example config expects its files; replaced by the test's folder. */
const EXAMPLE_DIR = '/etc/mosquitto/slotflip/';

export interface SecureBroker {
  /** mqtt://127.0.0.1:P: the same passwords and ACL, without TLS (the helper's plain listener). */
  url: string;
  /** mqtts://127.0.0.1:P with the example's TLS settings. */
  tlsUrl: string;
  ca: string;
  passwords: Map<string, string>;
  mosquitto: Mosquitto;
  close(): Promise<void>;
}

/** CA and a server certificate for 127.0.0.1 (IP SAN), signed by the CA; returns file paths. */
export async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=slotflip-test-ca', '-keyout', f('ca.key'), '-out', f('ca.crt')]);
  await run('openssl', ['req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr')]);
  await fsp.writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('server.ext'), '-out', f('server.crt')]);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

/** mosquitto from examples/mosquitto/{mosquitto.conf,acl}, users created with mosquitto_passwd. */
export async function startSecureMosquitto(users: string[]): Promise<SecureBroker> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-secure-mosq-'));
  const certs = await makeCertificates(dir);
  const passwords = new Map(users.map((u) => [u, `pw-${u}-${Math.random().toString(36).slice(2)}`]));
  const passwd = path.join(dir, 'passwd');
  await fsp.writeFile(passwd, '');
  for (const [u, p] of passwords) await run('mosquitto_passwd', ['-b', passwd, u, p]);
  await fsp.copyFile(path.join(EXAMPLES, 'acl'), path.join(dir, 'acl'));
  const tlsPort = await freePort();
  const example = await fsp.readFile(path.join(EXAMPLES, 'mosquitto.conf'), 'utf8');
  const conf = example
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.replaceAll(EXAMPLE_DIR, dir + '/').replace(/^listener 8883$/, `listener ${tlsPort} 127.0.0.1`));
  if (conf.some((l) => l.includes(EXAMPLE_DIR)) || !conf.includes(`listener ${tlsPort} 127.0.0.1`)) throw new Error('examples/mosquitto/mosquitto.conf changed shape; update the test');
  // Run as root, mosquitto drops to its own user before it reads the password file: let it.
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'mosquitto']).catch(() => ({ stdout: '' }));
    if (stdout.trim()) await run('chown', ['-R', `${stdout.trim()}`, dir]);
  }
  // The helper's own plain listener comes first; the example's settings (global, as
  // per_listener_settings is false) then govern both listeners, so allow_anonymous ends false.
  const mosquitto = await startMosquitto(conf);
  return {
    url: mosquitto.url,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    ca: certs.ca,
    passwords,
    mosquitto,
    async close() {
      await mosquitto.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

export async function login(url: string, b: SecureBroker, user: string, extra: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(url, {
    clientId: `sf-test-${user}-${Math.random().toString(36).slice(2)}`,
    username: user,
    password: b.passwords.get(user)!,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(url.startsWith('mqtts:') ? { ca: await fsp.readFile(b.ca) } : {}),
    ...extra,
  });
}

/** A fleet (as test/agent/fleet.ts makes) whose devices log in as themselves, over `url`. */
export async function makeSecureFleet(b: SecureBroker, url: string, ids: string[]): Promise<Fleet> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-secure-fleet-'));
  const keys = await writeKeyPair(path.join(dir, 'keys'), generateSigningKeyPair());
  const devices = new Map<string, string>();
  for (const id of ids) {
    const file = await createSimDevice({ dir: path.join(dir, id), deviceId: id, brokerUrl: url, trustedKeys: [keys.publicFile], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: 64 * 1024 * 1024, healthWindowSeconds: 3 });
    const json = JSON.parse(await fsp.readFile(file, 'utf8'));
    json.broker = { ...json.broker, username: id, password: b.passwords.get(id)!, ...(url.startsWith('mqtts:') ? { ca: b.ca } : {}) };
    await fsp.writeFile(file, JSON.stringify(json, null, 2));
    devices.set(id, file);
  }
  return { dir, publicKey: keys.publicFile, privateKey: keys.privateFile, url, devices, stop: () => fsp.rm(dir, { recursive: true, force: true }) };
}
