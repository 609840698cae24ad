// Payload streams whose SHA-256 runs elsewhere (OpenOptions.payloadHasher, as the local install
// does on a worker thread): the same bytes and the same refusals as hashing in the stream, a
// hasher that falls behind pauses the input, and a hasher that fails is not the bundle's fault.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { openBundle } from '../../src/bundle/open.js';
import type { PayloadHasher } from '../../src/bundle/payload-stream.js';
import { DigestWorker } from '../../src/slots/digest.js';
import { craftBundle, readAll, newSigner, samplePayload, streamOf } from './fixtures.js';

const signer = newSigner();
const rootfs = samplePayload(300_000, 1);
const app = samplePayload(9_000, 2);

/** A hasher on this thread that reports "busy" after every `every` bytes until the test drains it. */
function slowHasher(every: number): PayloadHasher & { pauses: number; drain(): void; closed: boolean } {
  const h = createHash('sha256');
  let since = 0;
  let drained: () => void = () => {};
  const me = {
    pauses: 0,
    closed: false,
    update(chunk: Uint8Array) {
      h.update(chunk);
      since += chunk.length;
      if (since < every) return true;
      since = 0;
      me.pauses++;
      setImmediate(() => drained());
      return false;
    },
    onDrain(fn: () => void) {
      drained = fn;
    },
    drain: () => drained(),
    digest: async () => h.digest('hex'),
    close() {
      me.closed = true;
    },
  };
  return me;
}

test('a payload hashed by a hasher that keeps asking for pauses arrives whole and is accepted', async () => {
  const { bytes } = await craftBundle(signer, { rootfs, app });
  const hashers: ReturnType<typeof slowHasher>[] = [];
  const b = await openBundle(streamOf(bytes, 7000), {
    trustedKeys: [signer.trusted],
    payloadHasher: () => {
      const h = slowHasher(20_000);
      hashers.push(h);
      return h;
    },
  });
  const got = await readAll(b);
  assert.deepEqual(got['rootfs'], rootfs);
  assert.deepEqual(got['app'], app);
  assert.ok(hashers[0]!.pauses > 5, 'the hasher never made the input wait');
  assert.ok(hashers.every((h) => h.closed), 'a hasher was left open');
});

for (const [name, make] of [
  ['worker', (w: DigestWorker) => w.hasher(64 * 1024, 2)],
  ['slow', () => slowHasher(50_000)],
] as const) {
  test(`${name} hasher: a flipped payload byte is still SF_ERR_DIGEST, a cut entry SF_ERR_BUNDLE_FORMAT`, async () => {
    const w = new DigestWorker();
    try {
      const { bytes } = await craftBundle(signer, { rootfs });
      const ok = await readAll(await openBundle(streamOf(bytes), { trustedKeys: [signer.trusted], payloadHasher: () => make(w) }));
      assert.equal(createHash('sha256').update(ok['rootfs']!).digest('hex'), createHash('sha256').update(rootfs).digest('hex'));
      const bad = Buffer.from(bytes);
      bad[bytes.length - 1024 - 512 - 100]! ^= 0x01;
      await assert.rejects(readAll(await openBundle(streamOf(bad), { trustedKeys: [signer.trusted], payloadHasher: () => make(w) })), { code: 'SF_ERR_DIGEST' });
      const cut = bytes.subarray(0, bytes.length - 1024 - 50_000);
      await assert.rejects(readAll(await openBundle(streamOf(cut), { trustedKeys: [signer.trusted], payloadHasher: () => make(w) })), { code: 'SF_ERR_BUNDLE_FORMAT' });
    } finally {
      await w.close();
    }
  });
}

test('a hasher that fails is an I/O failure (SF_ERR_IO), not a damaged bundle', async () => {
  const { bytes } = await craftBundle(signer, { rootfs });
  const w = new DigestWorker();
  const b = await openBundle(streamOf(bytes), { trustedKeys: [signer.trusted], payloadHasher: () => w.hasher(64 * 1024, 2) });
  const closing = w.close(); // the worker goes away under the stream
  await assert.rejects(readAll(b), { code: 'SF_ERR_IO' });
  await closing;
});

test('the digest worker hashes several streams at once, each its own', async () => {
  const w = new DigestWorker();
  try {
    const a = w.hasher(4096, 2);
    const s = w.sink(4096, 2);
    const x = samplePayload(100_000, 3);
    const y = samplePayload(77_777, 4);
    for (let i = 0; i * 3000 < x.length || i * 4096 < y.length; i++) {
      if (i * 3000 < x.length) a.update(x.subarray(i * 3000, (i + 1) * 3000));
      if (i * 4096 < y.length) {
        const buf = await s.acquire();
        s.update(buf, y.subarray(i * 4096, (i + 1) * 4096).copy(buf));
      }
    }
    const [hx, hy] = await Promise.all([a.digest(), s.digest()]);
    assert.equal(hx, createHash('sha256').update(x).digest('hex'));
    assert.equal(hy, createHash('sha256').update(y).digest('hex'));
  } finally {
    await w.close();
  }
});
