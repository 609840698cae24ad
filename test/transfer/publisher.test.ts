// Publisher refusals and topic names: a damaged bundle stops serving with SF_ERR_CRC, waiting
// for devices ends when the server stops, names that would widen a subscription are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { serveRelease } from '../../src/transfer/publisher.js';
import { announceTopic, deviceAnnounceTopics, deviceTopics, releaseTopics } from '../../src/transfer/topics.js';
import { connect, makeRelease, startAedes, tempDir } from './support.js';
import { device } from './harness.js';

test('a chunk that does not match the chunk table stops the publisher with SF_ERR_CRC', async () => {
  const broker = await startAedes();
  const pub = await connect(broker.url, 'pub-damaged');
  const dir = await tempDir();
  const rel = makeRelease(512 * 1024, 64 * 1024, [], 41);
  const damaged = { ...rel, openPayload: async (n: string, off: number, len: number) => Buffer.from(await rel.openPayload(n, off, len)).fill(1, 0, 1) };
  const server = await serveRelease(pub, { board: 'test-board', ...damaged });
  const dev = await device(broker.url, 'dev-damaged', dir, rel);
  try {
    const fetching = dev.fetch({ timeoutMs: 500 });
    await assert.rejects(server.closed, (err: Error & { code?: string }) => err.code === 'SF_ERR_CRC');
    await assert.rejects(server.whenComplete(['dev-damaged']), (err: Error & { code?: string }) => err.code === 'SF_ERR_CRC');
    await assert.rejects(fetching, (err: Error & { code?: string }) => err.code === 'SF_ERR_TRANSFER_TIMEOUT');
    assert.equal(server.stats.framesSent, 0);
  } finally {
    await dev.close();
    await server.close({ withdraw: true });
    await pub.endAsync(true);
    await broker.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('waiting for devices ends with SF_ERR_TRANSFER_ABORTED when the server is closed', async () => {
  const broker = await startAedes();
  const pub = await connect(broker.url, 'pub-close');
  try {
    const server = await serveRelease(pub, { board: 'test-board', ...makeRelease(64 * 1024, 64 * 1024, [], 42) });
    const waiting = assert.rejects(server.whenComplete(['nobody']), (err: Error & { code?: string }) => err.code === 'SF_ERR_TRANSFER_ABORTED' && /nobody/.test(err.message));
    await server.close({ withdraw: true });
    await waiting;
  } finally {
    await pub.endAsync(true);
    await broker.close();
  }
});

test('topic names: one level each, no wildcards', () => {
  assert.deepEqual(releaseTopics(undefined, 'rpi4', '0123456789abcdef'), {
    base: 'slotflip/releases/rpi4/0123456789abcdef',
    manifest: 'slotflip/releases/rpi4/0123456789abcdef/manifest',
    chunks: 'slotflip/releases/rpi4/0123456789abcdef/chunks',
    requests: 'slotflip/releases/rpi4/0123456789abcdef/requests',
  });
  assert.equal(deviceTopics('fleet/eu', 'dev-1').status, 'fleet/eu/devices/dev-1/status');
  assert.deepEqual(deviceAnnounceTopics(undefined, { board: 'b', deviceId: 'd', group: 'g' }), [
    'slotflip/announce/boards/b',
    'slotflip/announce/devices/d',
    'slotflip/announce/groups/g',
  ]);
  for (const bad of ['+', '#', 'a/b', '', 'x'.repeat(65)]) {
    assert.throws(() => announceTopic(undefined, { device: bad }), (e: Error & { code?: string }) => e.code === 'SF_ERR_CONFIG', bad);
  }
  assert.throws(() => releaseTopics(undefined, 'b', 'XYZ'), (e: Error & { code?: string }) => e.code === 'SF_ERR_CONFIG');
  assert.throws(() => releaseTopics('a/#', 'b', '0123456789abcdef'), (e: Error & { code?: string }) => e.code === 'SF_ERR_CONFIG');
});
