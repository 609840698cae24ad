// What src/transfer/mqtt.ts does for a receiver's memory: mqtt-packet's number cache is off
// once the module is loaded, and routed messages pace young-generation collections (only in a
// process started with --expose-gc: here a recording stand-in for gc is installed first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket, MqttClient } from 'mqtt';

const collections: unknown[] = [];
(globalThis as { gc?: (o: unknown) => void }).gc = (o) => void collections.push(o);
const { messageRouter, setGcPace } = await import('../../src/transfer/mqtt.js');
const mqttPacket = (await import('mqtt-packet')).default;

test('loading the module turns off mqtt-packet\'s cache of 65,536 packet-id Buffers', () => {
  assert.equal(mqttPacket.writeToStream.cacheNumbers, false);
});

test('a minor collection every max(4 MiB, 8 of the largest message) routed; unrouted topics do not count', async () => {
  const fallthrough: string[] = [];
  const client = { handleMessage: (p: IPublishPacket, cb: () => void) => (fallthrough.push(p.topic), cb()) } as unknown as MqttClient;
  messageRouter(client).route('chunks', () => undefined, (err) => assert.fail(String(err)));
  const deliver = (topic: string, bytes: number): Promise<void> =>
    new Promise((resolve) => client.handleMessage({ cmd: 'publish', topic, payload: Buffer.alloc(bytes), qos: 1, dup: false, retain: false } as IPublishPacket, () => resolve()));
  setGcPace(4 * 1024 * 1024);
  for (let i = 0; i < 7; i++) await deliver('chunks', 512 * 1024);
  await deliver('other', 64 * 1024 * 1024);
  assert.equal(collections.length, 0, '3.5 MiB routed');
  await deliver('chunks', 512 * 1024);
  assert.deepEqual(collections, [{ type: 'minor', execution: 'sync' }]);
  // 1 MiB messages: 8 of them (8 MiB) between collections, not 4 MiB.
  for (let i = 0; i < 7; i++) await deliver('chunks', 1024 * 1024);
  assert.equal(collections.length, 1);
  await deliver('chunks', 1024 * 1024);
  assert.equal(collections.length, 2);
  setGcPace(0);
  for (let i = 0; i < 20; i++) await deliver('chunks', 1024 * 1024);
  assert.equal(collections.length, 2, 'pace 0: never');
  assert.deepEqual(fallthrough, ['other']);
});
