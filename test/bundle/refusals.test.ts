// Structural refusals of the bundle reader: unsafe names, links and devices, missing,
// duplicate or misplaced entries, truncation anywhere, oversize and unlisted payloads. Each
// bundle is crafted with tar-stream directly, correctly signed, so only the flaw is tested.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { openBundle } from '../../src/bundle/open.js';
import { collect, craftBundle, craftTar, manifestFor, newSigner, payloadEntry, samplePayload, signedHead, streamOf, type CraftEntry } from './fixtures.js';

const signer = newSigner();
const rootfs = samplePayload(20_000, 3);
const app = samplePayload(3_000, 4);
const manifest = manifestFor(signer, [payloadEntry('rootfs', rootfs), payloadEntry('app', app)]);
const { manifestBytes, sigBytes } = signedHead(manifest, signer);
const M: CraftEntry = { name: 'manifest.json', body: manifestBytes };
const S: CraftEntry = { name: 'manifest.sig', body: sigBytes };
const R: CraftEntry = { name: 'payloads/rootfs', body: rootfs };
const A: CraftEntry = { name: 'payloads/app', body: app };

/** Opens and reads everything; resolves only if the whole bundle is accepted. */
async function consume(input: Readable): Promise<void> {
  const b = await openBundle(input, { trustedKeys: [signer.trusted] });
  try {
    for await (const { stream } of b.payloads()) await collect(stream);
  } finally {
    await b.close();
  }
}

async function refused(entries: CraftEntry[] | Buffer, expected: string): Promise<void> {
  const bytes = Buffer.isBuffer(entries) ? entries : await craftTar(entries);
  await assert.rejects(consume(streamOf(bytes)), (err: { code?: string; message: string }) => {
    assert.equal(err.code, expected, `expected ${expected}, got ${err.code}: ${err.message}`);
    return true;
  });
}

test('the crafted well-formed bundle is accepted (the refusals below differ only in their flaw)', async () => {
  await consume(streamOf(await craftTar([M, S, R, A])));
});

test('refuses absolute entry names (SF_ERR_UNSAFE_PATH)', async () => {
  await refused([{ ...M, name: '/manifest.json' }, S, R, A], 'SF_ERR_UNSAFE_PATH');
  await refused([M, S, R, A, { name: '/etc/passwd', body: Buffer.from('x') }], 'SF_ERR_UNSAFE_PATH');
});

test('refuses names with .. (SF_ERR_UNSAFE_PATH)', async () => {
  await refused([M, S, { ...R, name: 'payloads/../../etc/rootfs' }, A], 'SF_ERR_UNSAFE_PATH');
  await refused([M, S, R, { ...A, name: '../app' }], 'SF_ERR_UNSAFE_PATH');
});

test('refuses symlinks, hard links and device entries (SF_ERR_LINK)', async () => {
  await refused([M, S, { name: 'payloads/rootfs', type: 'symlink', linkname: '/dev/mmcblk0' }, A], 'SF_ERR_LINK');
  await refused([M, S, R, { name: 'payloads/app', type: 'link', linkname: 'payloads/rootfs' }], 'SF_ERR_LINK');
  await refused([M, S, { name: 'payloads/rootfs', type: 'block-device' }, A], 'SF_ERR_LINK');
  await refused([M, S, { name: 'payloads/rootfs', type: 'character-device' }, A], 'SF_ERR_LINK');
  await refused([{ name: 'manifest.json', type: 'symlink', linkname: '/etc/shadow' }, S, R, A], 'SF_ERR_LINK');
});

test('refuses directories and other non-file entries (SF_ERR_BUNDLE_FORMAT)', async () => {
  await refused([M, S, { name: 'payloads/', type: 'directory' }, R, A], 'SF_ERR_BUNDLE_FORMAT');
});

test('refuses a duplicate manifest, wherever it sits (SF_ERR_BUNDLE_FORMAT)', async () => {
  await refused([M, M, S, R, A], 'SF_ERR_BUNDLE_FORMAT');
  await refused([M, S, M, R, A], 'SF_ERR_BUNDLE_FORMAT');
  await refused([M, S, R, A, S], 'SF_ERR_BUNDLE_FORMAT');
});

test('refuses a missing manifest or signature (SF_ERR_BUNDLE_FORMAT)', async () => {
  await refused([M, R, A], 'SF_ERR_BUNDLE_FORMAT');
  await refused([S, R, A], 'SF_ERR_BUNDLE_FORMAT');
  await refused([M], 'SF_ERR_BUNDLE_FORMAT');
  await refused([], 'SF_ERR_BUNDLE_FORMAT');
});

test('refuses entries in the wrong order (SF_ERR_BUNDLE_FORMAT)', async () => {
  await refused([S, M, R, A], 'SF_ERR_BUNDLE_FORMAT');
  await refused([M, S, A, R], 'SF_ERR_BUNDLE_FORMAT');
  await refused([M, S, R, R, A], 'SF_ERR_BUNDLE_FORMAT');
  await refused([M, S, R], 'SF_ERR_BUNDLE_FORMAT'); // app listed, never comes
  await refused([M, S, R, { name: 'extra.txt', body: Buffer.from('x') }, A], 'SF_ERR_BUNDLE_FORMAT');
});

test('refuses a payload entry bigger than the manifest says, or not in it (SF_ERR_OVERSIZE)', async () => {
  await refused([M, S, { ...R, body: Buffer.concat([rootfs, Buffer.from('!')]) }, A], 'SF_ERR_OVERSIZE');
  await refused([M, S, R, A, { name: 'payloads/kernel', body: Buffer.from('x') }], 'SF_ERR_OVERSIZE');
});

test('refuses a payload entry smaller than the manifest says (SF_ERR_DIGEST)', async () => {
  await refused([M, S, { ...R, body: rootfs.subarray(1) }, A], 'SF_ERR_DIGEST');
});

test('refuses a manifest entry too big to be one, before reading it (SF_ERR_MANIFEST)', async () => {
  // Only the header matters: the reader must refuse on the declared size, not buffer 5 MiB.
  await refused([{ name: 'manifest.json', body: Buffer.alloc(5 * 1024 * 1024, 0x20) }, S, R, A], 'SF_ERR_MANIFEST');
});

test('refuses garbage that is not a tar (SF_ERR_BUNDLE_FORMAT)', async () => {
  await refused(Buffer.alloc(4096, 0x41), 'SF_ERR_BUNDLE_FORMAT');
  const bad = await craftTar([M, S, R, A]);
  bad[148] ^= 0x07; // the first header's checksum field
  await refused(bad, 'SF_ERR_BUNDLE_FORMAT');
});

test('truncation at any point is an error, never a hang and never a shorter bundle', { timeout: 60_000 }, async () => {
  const good = await craftTar([M, S, R, A]);
  const payloadStart = good.indexOf('payloads/rootfs');
  const appHeader = good.indexOf('payloads/app');
  const points = new Set([
    0, 1, 100, 511, 512, 700, // inside the first header and the manifest
    payloadStart, // right before the first payload's header
    payloadStart + 512 + 5000, // inside rootfs data
    appHeader, // exactly at an entry boundary
    appHeader + 512 + 3000, // at the end of app's data, before its padding
    good.length - 1024, // all entries complete, end-of-archive marker missing
    good.length - 600, // half the marker
    good.length - 1,
  ]);
  for (const cut of points) {
    await assert.rejects(consume(streamOf(good.subarray(0, cut))), (err: { code?: string; message: string }) => {
      assert.ok(['SF_ERR_BUNDLE_FORMAT', 'SF_ERR_DIGEST'].includes(err.code ?? ''), `cut at ${cut}: got ${err.code}: ${err.message}`);
      return true;
    });
  }
});

test('an input that dies mid-stream is an error, not a hang', { timeout: 10_000 }, async () => {
  const good = await craftTar([M, S, R, A]);
  const input = new Readable({ read() {} });
  input.push(good.subarray(0, good.indexOf('payloads/rootfs') + 2000));
  const b = await openBundle(input, { trustedKeys: [signer.trusted] });
  setImmediate(() => input.destroy(new Error('connection reset')));
  await assert.rejects(
    (async () => {
      for await (const { stream } of b.payloads()) await collect(stream);
    })(),
    (err: { code?: string }) => ['SF_ERR_IO', 'SF_ERR_BUNDLE_FORMAT'].includes(err.code ?? ''),
  );
});

test('a hand-crafted bundle with extra trailing zero records is still accepted', async () => {
  const good = await craftBundle(signer, { rootfs });
  await consume(streamOf(Buffer.concat([good.bytes, Buffer.alloc(10240)])));
});

test('a skipped payload in a truncated bundle fails the iteration, without an unheard stream error', { timeout: 10_000 }, async () => {
  const good = await craftTar([M, S, R, A]);
  const cut = good.subarray(0, good.indexOf('payloads/rootfs') + 512 + 5000);
  const b = await openBundle(streamOf(cut), { trustedKeys: [signer.trusted] });
  await assert.rejects(
    (async () => {
      for await (const _ of b.payloads()) void _; // reads nothing: every payload is drained
    })(),
    (err: { code?: string }) => err.code === 'SF_ERR_BUNDLE_FORMAT',
  );
});

test('a consumer that starts reading late still gets the error of an input that died meanwhile', { timeout: 10_000 }, async () => {
  const good = await craftTar([M, S, R, A]);
  const input = new Readable({ read() {} });
  input.push(good.subarray(0, good.indexOf('payloads/rootfs') + 2000));
  const b = await openBundle(input, { trustedKeys: [signer.trusted] });
  const it = b.payloads()[Symbol.asyncIterator]();
  const first = await it.next();
  input.destroy(new Error('connection reset'));
  await new Promise((r) => setTimeout(r, 50)); // the consumer is busy (opening a slot, say)
  await assert.rejects(collect(first.value.stream), (err: { code?: string }) => ['SF_ERR_IO', 'SF_ERR_BUNDLE_FORMAT'].includes(err.code ?? ''));
  await assert.rejects(it.next(), (err: { code?: string }) => ['SF_ERR_IO', 'SF_ERR_BUNDLE_FORMAT'].includes(err.code ?? ''));
});
