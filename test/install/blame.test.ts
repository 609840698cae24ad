// `slotflip install FILE` takes the rootfs unhashed and proves it by the read-back alone; when
// the read-back fails, blameReadback hashes the bundle file's payload to say whose fault it is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realFs } from '../../src/platform/fs.js';
import { blameReadback } from '../../src/install/firmware.js';
import { ReadbackError } from '../../src/slots/errors.js';
import { IoError } from '../../src/errors.js';
import { craftBundle, newSigner, samplePayload, tempDir, writeFile } from '../bundle/fixtures.js';

const signer = newSigner();

async function bundleFile(t: Parameters<typeof tempDir>[0], damage?: (bytes: Buffer, payload: Buffer) => void) {
  const payload = samplePayload(3 * 1024 * 1024 + 123, 5);
  const { bytes, manifest } = await craftBundle(signer, { rootfs: payload });
  damage?.(bytes, payload);
  const file = writeFile(tempDir(t), 'b.sfb', bytes);
  return { file, entry: manifest.payloads.find((p) => p.name === 'rootfs')! };
}

const readback = (): ReadbackError => new ReadbackError('slot-b.img reads back as sha256 0000…');

test('an intact bundle leaves the blame on the slot: the read-back error comes back as it was', async (t) => {
  const { file, entry } = await bundleFile(t);
  const err = readback();
  assert.equal(await blameReadback(realFs, file, entry, 64 * 1024, err), err);
});

test('a bundle whose payload hashes wrong in the file is the bundle\'s fault: SF_ERR_DIGEST, the read-back as its cause', async (t) => {
  const { file, entry } = await bundleFile(t, (bytes, payload) => {
    const at = bytes.indexOf(payload.subarray(0, 64)) + payload.length - 10;
    bytes[at]! ^= 0x01; // the last bytes of the payload
  });
  const err = readback();
  const blamed = (await blameReadback(realFs, file, entry, 64 * 1024, err)) as Error & { code?: string; details?: { actual?: string } };
  assert.equal(blamed.code, 'SF_ERR_DIGEST');
  assert.match(blamed.message, /payload rootfs: SHA-256 [0-9a-f]{64} differs from the manifest's/);
  assert.notEqual(blamed.details?.actual, entry.sha256);
  assert.equal(blamed.cause, err);
});

test('other failures, a vanished file and a payload the file does not hold are passed on untouched', async (t) => {
  const { file, entry } = await bundleFile(t);
  const io = new IoError('disk on fire');
  assert.equal(await blameReadback(realFs, file, entry, 64 * 1024, io), io);
  const err = readback();
  assert.equal(await blameReadback(realFs, `${file}.gone`, entry, 64 * 1024, err), err);
  assert.equal(await blameReadback(realFs, file, { ...entry, name: 'other' }, 64 * 1024, err), err);
  assert.equal(await blameReadback(realFs, file, { ...entry, size: entry.size + 1 }, 64 * 1024, err), err);
});
