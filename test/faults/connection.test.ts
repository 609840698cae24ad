// Connection faults on aedes: the proxy itself (bytes intact through splits, delays and stalls;
// drops counted; seeded), then fault runs of real agents through it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { startAedes } from '../transfer/support.js';
import { FaultProxy, seededRandom } from './proxy.js';
import { faultSuites } from './suite.js';

async function echoServer(): Promise<net.Server> {
  const s = net.createServer((c) => {
    c.on('error', () => undefined); // the proxy resets connections on purpose
    c.pipe(c);
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

test('seeded randomness repeats itself and differs between seeds', () => {
  const a = seededRandom(5);
  const b = seededRandom(5);
  const c = seededRandom(6);
  const xs = Array.from({ length: 8 }, () => a());
  assert.deepEqual(Array.from({ length: 8 }, () => b()), xs);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c()), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test('the proxy delivers every byte in order through split, delayed and stalled writes', async () => {
  const server = await echoServer();
  const proxy = await FaultProxy.start((server.address() as net.AddressInfo).port, { seed: 1, faultWindowMs: 60_000, splitProbability: 0.8, splitMaxBytes: 16, delayProbability: 0.3, delayMs: [0, 3], stallMeanMs: 50, stallMs: [5, 20] });
  proxy.arm();
  try {
    const data = randomBytes(256 * 1024);
    const sock = net.connect(proxy.port, '127.0.0.1');
    sock.on('error', (err) => assert.fail(err));
    const got: Buffer[] = [];
    let n = 0;
    const all = new Promise<void>((resolve) => sock.on('data', (d: Buffer) => { got.push(d); n += d.length; if (n >= data.length) resolve(); }));
    sock.write(data);
    await all;
    sock.destroy();
    assert.ok(Buffer.concat(got).equals(data));
    assert.ok(proxy.stats.splitWrites > 0 && proxy.stats.pieces > proxy.stats.splitWrites);
    assert.ok(proxy.stats.delays > 0 && proxy.stats.stalls > 0);
    assert.equal(proxy.stats.bytesUp, data.length);
  } finally {
    await proxy.close();
    server.close();
  }
});

test('the proxy drops connections while its fault window is open, not before or after', async () => {
  const server = await echoServer();
  const proxy = await FaultProxy.start((server.address() as net.AddressInfo).port, { seed: 2, faultWindowMs: 60_000, dropMeanMs: 20 });
  try {
    const echo = async (sock: net.Socket, text: string): Promise<string> => {
      sock.write(text);
      const [d] = (await once(sock, 'data')) as [Buffer];
      return d.toString();
    };
    const first = net.connect(proxy.port, '127.0.0.1');
    first.on('error', () => undefined);
    await once(first, 'connect');
    assert.equal(await echo(first, 'before the window'), 'before the window');
    assert.equal(proxy.stats.drops, 0);
    proxy.arm();
    await once(first, 'close');
    assert.equal(proxy.stats.drops, 1);
    proxy.calm(); // the end of the fault window
    const calm = net.connect(proxy.port, '127.0.0.1');
    await once(calm, 'connect');
    assert.equal(await echo(calm, 'still here'), 'still here');
    calm.destroy();
    assert.equal(proxy.stats.drops, 1);
  } finally {
    await proxy.close();
    server.close();
  }
});

faultSuites('aedes', startAedes, { seeds: [1, 2, 3, 4, 5], devicesPerRun: 2, imageBytes: [4 * 1024 * 1024, 6 * 1024 * 1024, 8 * 1024 * 1024], timeoutMs: 90_000 }, ['connection']);
