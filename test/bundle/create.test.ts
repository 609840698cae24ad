// createBundle: tar layout, manifest fields, chunk table with zero runs, signature, and the
// two-pass guard against a payload file that changes while the bundle is written.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as tar from 'tar-stream';
import { createBundle, scanPayload } from '../../src/bundle/create.js';
import { openBundle } from '../../src/bundle/open.js';
import { verifyBundle } from '../../src/bundle/check.js';
import { ChunkTable, parseManifest } from '../../src/bundle/manifest.js';
import { parseSignatureFile } from '../../src/bundle/signature.js';
import { crc32 } from '../../src/crypto/crc.js';
import { realFs, type FileSystem } from '../../src/platform/fs.js';
import { collect, newSigner, samplePayload, tempDir, writeFile } from './fixtures.js';

const signer = newSigner();

async function listTar(file: string): Promise<{ name: string; size: number; type: string; mode: number; body: Buffer }[]> {
  const out: { name: string; size: number; type: string; mode: number; body: Buffer }[] = [];
  const extract = tar.extract();
  createReadStream(file).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const body = await collect(entry);
    out.push({ name: entry.header.name, size: entry.header.size, type: entry.header.type, mode: entry.header.mode, body });
  }
  return out;
}

test('writes manifest.json, manifest.sig, then payloads in the order given', async (t) => {
  const dir = tempDir(t);
  const rootfsData = samplePayload(600_000, 5);
  const appData = Buffer.from('#!/bin/sh\necho app\n');
  const rootfs = writeFile(dir, 'rootfs.img', rootfsData);
  const app = writeFile(dir, 'app.tar', appData);
  const out = join(dir, 'b.sfb');
  const created = await createBundle(
    {
      boards: ['board-a', 'board-b'],
      version: '2.1.0-rc.1',
      securityVersion: 7,
      created: new Date('2026-03-01T12:00:00Z'),
      expires: new Date('2030-01-01T00:00:00Z'),
      payloads: [{ name: 'rootfs', file: rootfs }, { name: 'app', file: app }],
      privateKey: signer.privateKey,
      chunkSize: 64 * 1024,
      preInstall: ['sh', '-c', 'true'],
    },
    createWriteStream(out),
  );
  const entries = await listTar(out);
  assert.deepEqual(entries.map((e) => e.name), ['manifest.json', 'manifest.sig', 'payloads/rootfs', 'payloads/app']);
  assert.ok(entries.every((e) => e.type === 'file' && e.mode === 0o644));
  assert.ok(entries[0]!.body.equals(created.manifestBytes));
  assert.ok(entries[2]!.body.equals(rootfsData) && entries[3]!.body.equals(appData));

  const m = parseManifest(entries[0]!.body);
  assert.deepEqual(m.compatible, ['board-a', 'board-b']);
  assert.equal(m.version, '2.1.0-rc.1');
  assert.equal(m.securityVersion, 7);
  assert.equal(m.created, '2026-03-01T12:00:00.000Z');
  assert.equal(m.expires, '2030-01-01T00:00:00.000Z');
  assert.equal(m.keyId, signer.keyId);
  assert.deepEqual(m.preInstall, ['sh', '-c', 'true']);
  assert.equal(Object.keys(JSON.parse(entries[0]!.body.toString()))[0], 'format');

  const sig = parseSignatureFile(entries[1]!.body);
  assert.equal(sig.format, 'slotflip-sig/1');
  assert.equal(sig.keyId, signer.keyId);

  const p = m.payloads[0]!;
  assert.equal(p.size, rootfsData.length);
  const table = new ChunkTable(p);
  assert.equal(table.count, Math.ceil(rootfsData.length / 65536));
  for (let i = 0; i < table.count; i++) {
    const chunk = rootfsData.subarray(i * 65536, (i + 1) * 65536);
    assert.equal(table.crc(i), crc32(chunk), `crc of chunk ${i}`);
    assert.equal(table.isZero(i), chunk.every((b) => b === 0), `zero flag of chunk ${i}`);
  }
  assert.ok(table.dataChunks < table.count, 'the zero stretch yields zero chunks');
});

test('all-zero chunks are listed as runs, including a short zero tail and a zero-only file', async (t) => {
  const dir = tempDir(t);
  const data = Buffer.alloc(4096 * 10 + 100);
  data[4096 * 3] = 1; // chunk 3 has data; 0-2 and 4-10 (10 is the short tail) are zero
  const entry = await scanPayload('rootfs', writeFile(dir, 'z.img', data), 4096);
  assert.deepEqual(entry.zero, [[0, 3], [4, 11]]);
  const table = new ChunkTable(entry);
  assert.equal(table.crc(10), crc32(Buffer.alloc(100)));
  assert.equal(table.crc(0), crc32(Buffer.alloc(4096)));

  const sparse = join(dir, 'sparse.img');
  writeFileSync(sparse, '');
  truncateSync(sparse, 1024 * 1024);
  const s = await scanPayload('rootfs', sparse, 64 * 1024);
  assert.deepEqual(s.zero, [[0, 16]]);
  const empty = await scanPayload('app', writeFile(dir, 'empty', Buffer.alloc(0)), 4096);
  assert.equal(empty.size, 0);
  assert.deepEqual(empty.zero, []);
});

test('round trip through createBundle, openBundle and verifyBundle', async (t) => {
  const dir = tempDir(t);
  const data = samplePayload(200_000, 9);
  const out = join(dir, 'b.sfb');
  await createBundle({ boards: ['b'], version: '1.0.0', payloads: [{ name: 'rootfs', file: writeFile(dir, 'r', data) }, { name: 'empty', file: writeFile(dir, 'e', Buffer.alloc(0)) }], privateKey: signer.privateKey }, createWriteStream(out));
  const b = await openBundle(createReadStream(out), { trustedKeys: [signer.trusted] });
  const got: Buffer[] = [];
  for await (const { stream } of b.payloads()) got.push(await collect(stream));
  await b.close();
  assert.ok(got[0]!.equals(data));
  assert.equal(got[1]!.length, 0);
  const v = await verifyBundle(createReadStream(out), { trustedKeys: [signer.trusted] });
  assert.deepEqual(v.payloads.map((p) => p.name), ['rootfs', 'empty']);
});

test('a payload that changes between the two passes is refused (SF_ERR_DIGEST)', async (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'r', samplePayload(50_000, 2));
  // Pass 1 reads through the file-system seam; this one sees a different byte than pass 2 will.
  const lying: FileSystem = {
    ...realFs,
    async open(f, mode, perm) {
      const h = await realFs.open(f, mode, perm);
      return {
        ...h,
        read: async (into, off, len, pos) => {
          const n = await h.read(into, off, len, pos);
          if (pos === 0 && n > 0) into[off] = into[off]! ^ 0xff;
          return n;
        },
        close: () => h.close(),
      };
    },
  };
  await assert.rejects(
    createBundle({ boards: ['b'], version: '1.0.0', payloads: [{ name: 'rootfs', file }], privateKey: signer.privateKey, fs: lying }, createWriteStream(join(dir, 'o'))),
    (err: { code?: string }) => err.code === 'SF_ERR_DIGEST',
  );
});

test('refuses a payload that is not a regular file, and a missing one (SF_ERR_IO)', async (t) => {
  const dir = tempDir(t);
  for (const file of [dir, join(dir, 'missing')]) {
    await assert.rejects(
      createBundle({ boards: ['b'], version: '1.0.0', payloads: [{ name: 'rootfs', file }], privateKey: signer.privateKey }, createWriteStream(join(dir, 'o'))),
      (err: { code?: string }) => err.code === 'SF_ERR_IO',
    );
  }
});

test('refuses manifest fields that do not hold (SF_ERR_MANIFEST)', async (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'r', Buffer.from('x'));
  await assert.rejects(
    createBundle({ boards: ['b'], version: 'one', payloads: [{ name: 'rootfs', file }], privateKey: signer.privateKey }, createWriteStream(join(dir, 'o'))),
    (err: { code?: string }) => err.code === 'SF_ERR_MANIFEST',
  );
});

test('an output that fails mid-bundle is an SF_ERR_IO refusal, not a hang or a silent success', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'r', samplePayload(2_000_000, 4));
  let written = 0;
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _e, cb) {
      written += chunk.length;
      if (written > 100_000) cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      else setImmediate(cb);
    },
  });
  await assert.rejects(createBundle({ boards: ['b'], version: '1.0.0', payloads: [{ name: 'rootfs', file }], privateKey: signer.privateKey }, out, false), (err: { code?: string }) => err.code === 'SF_ERR_IO');
  await assert.rejects(
    createBundle({ boards: ['b'], version: '1.0.0', payloads: [{ name: 'rootfs', file }], privateKey: signer.privateKey }, createWriteStream(join(dir, 'no', 'such', 'dir.sfb'))),
    (err: { code?: string }) => err.code === 'SF_ERR_IO',
  );
});
