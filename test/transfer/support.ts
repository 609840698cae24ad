// Test helpers for the transfer: brokers on free loopback ports (aedes in-process, a real
// mosquitto child), a synthetic signed-looking release (the transfer never checks signatures),
// and clients that connect with fast reconnects.

import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { ChunkTable, ChunkTableBuilder, MANIFEST_FORMAT, parseManifest, releaseId, serializeManifest, type Manifest } from '../../src/bundle/manifest.js';
import { crc32 } from '../../src/transfer/crc.js';
import { startEmbeddedBroker } from '../../src/broker/embedded.js';

export interface Broker {
  url: string;
  port: number;
  /** Stops the broker abruptly (connections dropped, retained messages gone) and starts it again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** The product's embedded broker (src/broker/embedded.ts) on `port` (0: any free one). */
async function launchAedes(port: number): Promise<{ port: number; stop(): Promise<void> }> {
  const b = await startEmbeddedBroker({ port });
  return { port: b.port, stop: () => b.close() };
}

/** An in-process aedes broker on a free 127.0.0.1 port. */
export async function startAedes(): Promise<Broker> {
  let current = await launchAedes(0);
  const port = current.port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async restart() {
      await current.stop();
      current = await launchAedes(port);
    },
    close: () => current.stop(),
  };
}

export interface Mosquitto extends Broker {
  child: ChildProcess;
}

/** Starts `mosquitto -c <conf>` on a free loopback port with TCP_NODELAY; fails when mosquitto is missing. */
export async function startMosquitto(extraConf: string[] = []): Promise<Mosquitto> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-mosq-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  await fsp.writeFile(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'set_tcp_nodelay true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information', ...extraConf, ''].join('\n'));
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    // A test process that dies early must not leave its broker behind.
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`mosquitto did not report running within 10 s: ${log}`));
      }, 10_000);
      const onData = (d: Buffer): void => {
        log += d.toString();
        if (/mosquitto version \S+ running/.test(log)) {
          clearTimeout(timer);
          child.stderr!.off('data', onData);
          child.stderr!.resume(); // keep draining the log so the broker never blocks on it
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start mosquitto (is the Debian package installed?): ${err.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited with ${code}: ${log}`));
      });
    });
    return child;
  };
  const stop = async (c: ChildProcess): Promise<void> => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGKILL');
    await once(c, 'exit');
  };
  const m: Mosquitto = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    child: await launch(),
    async restart() {
      await stop(m.child);
      m.child = await launch();
    },
    async close() {
      await stop(m.child);
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
  return m;
}

export async function connect(url: string, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 100, connectTimeout: 5000, keepalive: 30 });
}

export interface TestRelease {
  releaseId: string;
  manifest: Manifest;
  manifestBytes: Buffer;
  sigBytes: Buffer;
  payload: Buffer;
  table: ChunkTable;
  sha256: string;
  openPayload(name: string, offset: number, length: number): Promise<Uint8Array>;
}

/**
 * A one-payload release over deterministic bytes; `zeroChunks` lists chunk indexes filled
 * with zeros (and marked so in the chunk table).
 */
export function makeRelease(size: number, chunkSize: number, zeroChunks: number[] = [], seed = 1, name = 'rootfs'): TestRelease {
  const payload = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    payload.writeUInt32LE(x >>> 0, i);
  }
  for (let i = size - (size % 4); i < size; i++) payload[i] = 7;
  for (const z of zeroChunks) payload.fill(0, z * chunkSize, Math.min(size, (z + 1) * chunkSize));
  const b = new ChunkTableBuilder(chunkSize);
  for (let off = 0; off < size; off += chunkSize) {
    const chunk = payload.subarray(off, Math.min(size, off + chunkSize));
    b.add(crc32(chunk), chunk.every((v) => v === 0));
  }
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const manifest = parseManifest(
    serializeManifest({
      format: MANIFEST_FORMAT,
      compatible: ['test-board'],
      version: `1.0.${seed}`,
      securityVersion: 0,
      created: '2026-01-01T00:00:00Z',
      keyId: '0123456789abcdef',
      payloads: [{ name, size, sha256, ...b.finish() }],
    }),
  );
  const manifestBytes = serializeManifest(manifest);
  return {
    releaseId: releaseId(manifestBytes),
    manifest,
    manifestBytes,
    sigBytes: Buffer.from('not-a-real-signature'),
    payload,
    table: new ChunkTable(manifest.payloads[0]!),
    sha256,
    openPayload: async (_n, offset, length) => payload.subarray(offset, offset + length),
  };
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function tempDir(prefix = 'sf-transfer-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * A release whose bytes are computed per chunk (AES-CTR keystream keyed by the chunk index),
 * so a 1 GiB payload never sits in memory. Chunks listed in `zeroChunks` are zeros.
 */
export function makeStreamedRelease(size: number, chunkSize: number, zeroChunks: number[] = []): Omit<TestRelease, 'payload'> {
  const zero = new Set(zeroChunks);
  const chunk = (i: number): Buffer => {
    const n = Math.min(chunkSize, size - i * chunkSize);
    if (zero.has(i)) return Buffer.alloc(n);
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(i, 0);
    return createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), iv).update(Buffer.alloc(n));
  };
  const b = new ChunkTableBuilder(chunkSize);
  const h = createHash('sha256');
  for (let i = 0; i * chunkSize < size; i++) {
    const c = chunk(i);
    h.update(c);
    b.add(crc32(c), zero.has(i));
  }
  const sha256 = h.digest('hex');
  const manifestBytes = serializeManifest(
    parseManifest(
      serializeManifest({
        format: MANIFEST_FORMAT,
        compatible: ['test-board'],
        version: '2.0.0',
        securityVersion: 0,
        created: '2026-01-01T00:00:00Z',
        keyId: '0123456789abcdef',
        payloads: [{ name: 'rootfs', size, sha256, ...b.finish() }],
      }),
    ),
  );
  const manifest = parseManifest(manifestBytes);
  return {
    releaseId: releaseId(manifestBytes),
    manifest,
    manifestBytes,
    sigBytes: Buffer.from('not-a-real-signature'),
    table: new ChunkTable(manifest.payloads[0]!),
    sha256,
    openPayload: async (_n, offset, length) => {
      const c = chunk(offset / chunkSize);
      assert.equal(c.length, length);
      return c;
    },
  };
}
