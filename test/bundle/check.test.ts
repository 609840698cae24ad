// verifyBundle and readBundleHeader: whole-bundle checks down to each chunk's CRC-32, and the
// key-less header read behind `bundle inspect`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBundleHeader, verifyBundle } from '../../src/bundle/check.js';
import { ChunkTable, ChunkTableBuilder } from '../../src/bundle/manifest.js';
import { craftBundle, craftTar, manifestFor, newSigner, payloadEntry, samplePayload, signedHead, streamOf } from './fixtures.js';

const signer = newSigner();
const data = samplePayload(40_000, 6);

test('verifyBundle accepts a good bundle and reports each payload', async () => {
  const { bytes } = await craftBundle(signer, { rootfs: data });
  const r = await verifyBundle(streamOf(bytes), { trustedKeys: [signer.trusted] });
  assert.equal(r.signerKeyId, signer.keyId);
  assert.deepEqual(r.payloads.map((p) => [p.name, p.size]), [['rootfs', 40_000]]);
});

test('verifyBundle refuses a chunk table that does not match the bytes, even with a right SHA-256 (SF_ERR_DIGEST)', async () => {
  const good = payloadEntry('rootfs', data);
  const table = new ChunkTable(good);
  const wrongCrc = new ChunkTableBuilder(good.chunkSize);
  for (let i = 0; i < table.count; i++) wrongCrc.add(i === 1 ? 0xdeadbeef : table.crc(i), table.isZero(i));
  for (const entry of [{ ...good, ...wrongCrc.finish() }, { ...good, zero: [] }]) {
    const { manifestBytes, sigBytes } = signedHead(manifestFor(signer, [entry]), signer);
    const bytes = await craftTar([
      { name: 'manifest.json', body: manifestBytes },
      { name: 'manifest.sig', body: sigBytes },
      { name: 'payloads/rootfs', body: data },
    ]);
    await assert.rejects(verifyBundle(streamOf(bytes), { trustedKeys: [signer.trusted] }), (err: { code?: string }) => err.code === 'SF_ERR_DIGEST');
  }
});

test('verifyBundle refuses a bundle signed by a key it was not given (SF_ERR_UNTRUSTED_KEY)', async () => {
  const { bytes } = await craftBundle(signer, { rootfs: data });
  await assert.rejects(verifyBundle(streamOf(bytes), { trustedKeys: [newSigner().trusted] }), (err: { code?: string }) => err.code === 'SF_ERR_UNTRUSTED_KEY');
});

test('readBundleHeader reads the manifest without any key and without reading payloads', async () => {
  const { bytes, manifest } = await craftBundle(signer, { rootfs: data });
  const h = await readBundleHeader(streamOf(bytes.subarray(0, bytes.indexOf('payloads/rootfs'))));
  assert.deepEqual(h.manifest, manifest);
  assert.equal(h.signature.keyId, signer.keyId);
});
