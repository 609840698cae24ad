// The read-back that runs behind the writer (src/slots/readback.ts), its hash sinks on this
// thread and on a worker (src/slots/digest.ts), and writeStream's promise that a position is
// reported durable only after a sync that followed every write below it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { realFs, type FileHandle, type FileSystem } from '../../src/platform/fs.js';
import { SlotReadback } from '../../src/slots/readback.js';
import { inlineSha256, workerSha256, type Sha256Sink } from '../../src/slots/digest.js';
import { SlotWriter, copyRange, writeStream, type WriteStreamOptions } from '../../src/slots/writer.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function tmp(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-readback-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function hashAll(sink: Sha256Sink, data: Buffer): Promise<string> {
  for (let at = 0; at < data.length; ) {
    const buf = await sink.acquire();
    const n = Math.min(buf.length, data.length - at);
    data.copy(buf, 0, at, at + n);
    sink.update(buf, n);
    at += n;
  }
  return sink.digest();
}

for (const [name, make] of [
  ['inline', () => inlineSha256(64 * 1024, 2)],
  ['worker', () => workerSha256(64 * 1024, 3)],
] as const) {
  test(`${name} sink: the digest of odd-sized pieces equals node:crypto's, with a bounded pool`, async () => {
    const data = randomBytes(1_000_003);
    const sink = make();
    try {
      assert.equal(await hashAll(sink, data), sha(data));
    } finally {
      await sink.close();
    }
    await sink.close(); // twice is fine
    await assert.rejects(sink.acquire());
  });
}

test('worker sink: acquire waits for a buffer to come back once the pool is spent', async () => {
  const sink = workerSha256(1024, 2);
  try {
    const a = await sink.acquire();
    const b = await sink.acquire();
    let third = false;
    const waiting = sink.acquire().then((buf) => ((third = true), buf));
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false, 'a third buffer was made beyond the pool of 2');
    sink.update(a.fill(1), 1024);
    const c = await waiting;
    assert.equal(c.length, 1024);
    sink.update(b.fill(2), 1024);
    sink.update(c.fill(3), 10);
    const expected = sha(Buffer.concat([Buffer.alloc(1024, 1), Buffer.alloc(1024, 2), Buffer.alloc(10, 3)]));
    assert.equal(await sink.digest(), expected);
  } finally {
    await sink.close();
  }
});

/** realFs, recording the furthest byte read from `device`. */
function spyFs(device: string): FileSystem & { furthest: number; opens: number } {
  const spy = {
    ...realFs,
    furthest: 0,
    opens: 0,
    async open(file: string, mode: Parameters<FileSystem['open']>[1], perm?: number): Promise<FileHandle> {
      const fh = await realFs.open(file, mode, perm);
      if (file !== device) return fh;
      spy.opens++;
      return {
        ...fh,
        read: async (into, offset, length, position) => {
          const n = await fh.read(into, offset, length, position);
          spy.furthest = Math.max(spy.furthest, position + n);
          return n;
        },
        close: () => fh.close(),
      };
    },
  };
  return spy;
}

for (const sinkName of ['inline', 'worker'] as const) {
  test(`read-back (${sinkName}) reads only what was reported durable, in order, and accepts the right digest`, async (t) => {
    const dir = await tmp(t);
    const dev = path.join(dir, 'b.img');
    const data = randomBytes(3 * 65536 + 999);
    await fsp.writeFile(dev, data);
    const fs = spyFs(dev);
    const seen: number[] = [];
    let reached: () => void = () => {};
    const sink = sinkName === 'worker' ? workerSha256(65536, 2) : inlineSha256(65536, 2);
    const rb = new SlotReadback(fs, dev, data.length, sink, (n) => {
      seen.push(n);
      if (n >= 100000) reached();
    });
    assert.equal(fs.opens, 0, 'nothing is read before anything is durable');
    await new Promise<void>((resolve) => {
      reached = resolve;
      rb.advance(100000);
    });
    assert.equal(fs.furthest, 100000, 'read past the durable front');
    rb.advance(50000); // going back is a no-op
    await rb.finish(sha(data));
    assert.equal(fs.furthest, data.length);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(seen.at(-1), data.length);
  });
}

test('read-back refuses a slot whose bytes differ or end early (SF_ERR_READBACK) and always releases its worker', async (t) => {
  const dir = await tmp(t);
  const dev = path.join(dir, 'b.img');
  const data = randomBytes(200000);
  await fsp.writeFile(dev, data);
  const flipped = Buffer.from(data);
  flipped[150000]! ^= 1;
  const wrong = new SlotReadback(realFs, dev, data.length, workerSha256(65536, 2));
  wrong.advance(100000);
  await assert.rejects(wrong.finish(sha(flipped)), { code: 'SF_ERR_READBACK' });
  const short = new SlotReadback(realFs, dev, data.length + 10, workerSha256(65536, 2));
  short.advance(data.length);
  await assert.rejects(short.finish(sha(data)), (err: { code?: string; message: string }) => err.code === 'SF_ERR_READBACK' && /ends at 200000/.test(err.message));
  const missing = new SlotReadback(realFs, path.join(dir, 'nope.img'), 10, inlineSha256(4096));
  await assert.rejects(missing.finish(sha(data)), { code: 'SF_ERR_READBACK' });
});

test('an aborted read-back stops without reading further and without an unhandled error', async (t) => {
  const dir = await tmp(t);
  const dev = path.join(dir, 'b.img');
  await fsp.writeFile(dev, randomBytes(300000));
  const fs = spyFs(dev);
  const rb = new SlotReadback(fs, dev, 300000, workerSha256(65536, 2));
  rb.advance(65536);
  await rb.abort();
  rb.advance(300000);
  assert.ok(fs.furthest <= 65536, `read to ${fs.furthest} after the abort`);
});

for (const how of ['writeStream', 'copyRange'] as const) {
  test(`${how} reports a position durable only after a sync that followed every write below it`, async (t) => {
    const dir = await tmp(t);
    const dev = path.join(dir, 'b.img');
    const log: string[] = [];
    const fs: FileSystem = {
      ...realFs,
      async open(file, mode, perm) {
        const fh = await realFs.open(file, mode, perm);
        return {
          ...fh,
          read: (...a) => fh.read(...a),
          write: async (data, position) => {
            await fh.write(data, position);
            log.push(`w ${position + data.length}`);
          },
          datasync: async () => {
            const mark = log.length;
            log.push('sync start');
            await fh.datasync();
            log.push(`sync end ${mark}`);
          },
          close: () => fh.close(),
        };
      },
    };
    const data = randomBytes(10 * 65536 + 123);
    const pieces: Buffer[] = [];
    for (let i = 0; i < data.length; i += 30000) pieces.push(data.subarray(i, i + 30000));
    const w = await SlotWriter.open(fs, { device: dev, type: 'file' }, { device: path.join(dir, 'a.img'), type: 'file' });
    const durable: number[] = [];
    // copyRange reads the same bytes from the middle of a file, as the install reads a bundle.
    const bundle = path.join(dir, 'bundle');
    await fsp.writeFile(bundle, Buffer.concat([Buffer.alloc(1536, 9), data, Buffer.alloc(1024)]));
    const source = await realFs.open(bundle, 'read');
    t.after(() => source.close());
    const input = Readable.from(pieces);
    const range = { handle: source, offset: 1536, length: data.length, truncated: () => new Error('truncated') };
    const n = await (how === 'writeStream' ? (o: WriteStreamOptions) => writeStream(w, input, o) : (o: WriteStreamOptions) => copyRange(w, range, o))({
      bufferSize: 65536,
      expectedSize: data.length,
      syncEvery: 2 * 65536,
      onDurable(p) {
        // The sync that just ended started after every write ending at or below p had landed.
        const end = [...log].reverse().find((l) => l.startsWith('sync end'))!;
        const started = Number(end.split(' ')[2]);
        for (const l of log) {
          if (!l.startsWith('w ')) continue;
          const at = Number(l.slice(2));
          if (at <= p) assert.ok(log.indexOf(l) < started, `write to ${at} landed after the sync that made ${p} durable`);
        }
        durable.push(p);
      },
    });
    await w.close();
    assert.equal(n, data.length);
    // A sync still running when the next is due is not doubled, so how many there are depends on timing; at least one came before the end.
    assert.ok(durable.length >= 2 && durable[0]! < data.length, `durable reports ${durable.join(', ')}: the writer did not sync along the way`);
    assert.deepEqual(durable, [...durable].sort((a, b) => a - b));
    assert.equal(durable.at(-1), data.length);
    assert.deepEqual(await fsp.readFile(dev), data);
  });
}

test('copyRange of a source that ends early (the bundle file changed under it) fails with the source\'s error', async (t) => {
  const dir = await tmp(t);
  const bundle = path.join(dir, 'bundle');
  await fsp.writeFile(bundle, randomBytes(5000));
  const source = await realFs.open(bundle, 'read');
  t.after(() => source.close());
  const w = await SlotWriter.open(realFs, { device: path.join(dir, 'b.img'), type: 'file' }, { device: path.join(dir, 'a.img'), type: 'file' });
  const range = { handle: source, offset: 1000, length: 9000, truncated: (missing: number) => Object.assign(new Error(`short by ${missing}`), { code: 'SF_ERR_BUNDLE_FORMAT' }) };
  await assert.rejects(copyRange(w, range, { bufferSize: 4096, expectedSize: 9000 }), { code: 'SF_ERR_BUNDLE_FORMAT', message: 'short by 5000' });
  await w.close();
});
