// End-to-end transfers against an in-process aedes broker: full transfer with digest check,
// two devices on one stream, resume after a stop, rogue frames, refusal of a manifest.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { serveRelease } from '../../src/transfer/publisher.js';
import { startAedes, connect, makeRelease, sha256File, tempDir, type Broker } from './support.js';
import { device } from './harness.js';

let broker: Broker;
let pub: MqttClient;
let dir: string;

before(async () => {
  broker = await startAedes();
  pub = await connect(broker.url, 'publisher');
  dir = await tempDir();
});

after(async () => {
  await pub.endAsync(true);
  await broker.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

test('a device fetches a release; the file matches the payload digest and zero chunks never travel', async () => {
  const rel = makeRelease(3 * 1024 * 1024 + 1234, 64 * 1024, [3, 4, 5, 20], 11);
  const server = await serveRelease(pub, { board: 'test-board', ...rel });
  const dev = await device(broker.url, 'dev-full', dir, rel);
  try {
    const res = await dev.fetch();
    assert.equal(await sha256File(dev.target), rel.sha256);
    assert.equal(res.stats.zeroChunks, 4);
    assert.equal(res.stats.chunksWritten, rel.table.count - 4);
    assert.equal(res.stats.badCrc, 0);
    assert.equal(server.stats.framesSent, rel.table.count - 4);
    await server.whenComplete(['dev-full']);
  } finally {
    await dev.close();
    await server.close({ withdraw: true });
  }
});
