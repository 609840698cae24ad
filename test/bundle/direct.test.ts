// directPayloads (src/bundle/direct.ts): the payload offsets of a bundle file laid out as
// `bundle create` writes it, and nothing (the stream reader's turn) for any other layout.
// The fuzz test in test/fuzz/locate.test.ts holds it to the stream reader's verdicts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBundle } from '../../src/bundle/create.js';
import { openBundle, type OpenedBundle } from '../../src/bundle/open.js';
import { directPayloads } from '../../src/bundle/direct.js';
import { realFs } from '../../src/platform/fs.js';
import * as tar from 'tar-stream';
import { newSigner, samplePayload, tempDir, writeFile } from './fixtures.js';

const signer = newSigner();

async function created(dir: string): Promise<{ file: string; rootfs: Buffer; app: Buffer; head: OpenedBundle }> {
  const rootfs = samplePayload(300_001, 3);
  const app = samplePayload(7_000, 4);
  const file = join(dir, 'b.sfb');
  const payloads = [
    { name: 'rootfs', file: writeFile(dir, 'r', rootfs) },
    { name: 'app', file: writeFile(dir, 'a', app) },
  ];
  await createBundle({ boards: ['b'], version: '1.0.0', payloads, privateKey: signer.privateKey }, createWriteStream(file));
  const head = await openBundle(createReadStream(file), { trustedKeys: [signer.trusted] });
  await head.close();
  return { file, rootfs, app, head };
}

/** The same entries re-packed with a pax record on every header (tar-stream reads them; the walk does not). */
async function withPax(bundle: Buffer): Promise<Buffer> {
  const extract = tar.extract();
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  extract.end(bundle);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    await new Promise<void>((resolve, reject) => pack.entry({ ...entry.header, pax: { comment: 'x' } }, Buffer.concat(parts), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

test('a bundle made by bundle create: every payload found where its bytes are', async (t) => {
  const { file, rootfs, app, head } = await created(tempDir(t));
  const ranges = await directPayloads(realFs, file, head.manifest, head.manifestBytes);
  assert.ok(ranges, 'the walk refused what bundle create writes');
  const bytes = readFileSync(file);
  const at = (name: string): Buffer => bytes.subarray(ranges.get(name)!.offset, ranges.get(name)!.offset + ranges.get(name)!.size);
  assert.ok(at('rootfs').equals(rootfs));
  assert.ok(at('app').equals(app));
  assert.equal(ranges.get('rootfs')!.offset % 512, 0);
});

test('any other layout is left to the stream reader: trailing bytes, a cut end marker, another manifest, a pax header', async (t) => {
  const dir = tempDir(t);
  const { file, head } = await created(dir);
  const bytes = readFileSync(file);
  const variant = (name: string, b: Buffer): string => {
    const f = join(dir, name);
    writeFileSync(f, b);
    return f;
  };
  const cases: [string, string][] = [
    ['a stray byte at the end', variant('stray.sfb', Buffer.concat([bytes, Buffer.from([1])]))],
    ['a non-zero block after the end marker', variant('garbage.sfb', Buffer.concat([bytes, Buffer.alloc(512, 7)]))],
    ['no end-of-archive marker', variant('cut.sfb', bytes.subarray(0, bytes.length - 1024))],
    ['a part block at the end', variant('part.sfb', Buffer.concat([bytes, Buffer.alloc(100)]))],
    ['a missing file', join(dir, 'nothing-here.sfb')],
  ];
  for (const [what, f] of cases) assert.equal(await directPayloads(realFs, f, head.manifest, head.manifestBytes), undefined, what);
  // The manifest in the file must be the one the stream reader verified.
  const other = { ...head.manifest, version: '9.9.9' };
  assert.equal(await directPayloads(realFs, file, other, Buffer.from(JSON.stringify(other))), undefined, 'another manifest');
  // A pax header before a payload (a long name, as GNU tar writes it): fine for the stream reader, not plain.
  const paxFile = variant('pax.sfb', await withPax(bytes));
  const paxHead = await openBundle(createReadStream(paxFile), { trustedKeys: [signer.trusted] });
  await paxHead.close();
  assert.equal(await directPayloads(realFs, paxFile, paxHead.manifest, paxHead.manifestBytes), undefined, 'a pax header');
});
