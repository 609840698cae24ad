// Fuzzing the bootloader environment: the U-Boot image format (encode → decode round trips,
// CRC catching damage, the redundant-copy rule), and the uboot and file backends reading
// whatever bytes a torn write, an erased flash or another tool left behind. An update of a
// damaged env either fails typed with the file untouched, or writes only the inactive copy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { currentCopy, decodeData, decodeImage, encodeData, encodeImage, headerSize, nextFlags } from '../../src/bootenv/uboot-format.js';
import { openBootEnv, initBootEnv } from '../../src/bootenv/index.js';
import { realFs } from '../../src/platform/fs.js';
import { fuzzAsync, fuzzSync, outcome, outcomeAsync } from './support.js';
import { applyEdits, byteEdit } from './mutate.js';

const dir = mkdtempSync(path.join(tmpdir(), 'slotflip-fuzz-env-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Names and values as the format stores them: one char per byte. */
const binName = fc.string({ unit: fc.integer({ min: 1, max: 255 }).filter((c) => c !== 0x3d).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 12 });
const binValue = fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const binEntries = fc.uniqueArray(fc.tuple(binName, binValue), { maxLength: 12, selector: ([n]) => n }).map((pairs) => new Map(pairs));

test('encodeData → decodeData is the identity; too little room is SF_ERR_ENV_TOO_LARGE', (t) => {
  fuzzSync(t, 1500, fc.tuple(binEntries, fc.integer({ min: -20, max: 200 })), ([entries, slack]) => {
    let need = 1;
    for (const [n, v] of entries) need += n.length + v.length + 2;
    const r = outcome(() => encodeData(entries, need + slack), ['SF_ERR_ENV_TOO_LARGE']);
    assert.equal(r.ok, slack >= 0);
    if (r.ok) assert.deepEqual([...decodeData(r.value)], [...entries]);
  });
});

test('encodeImage → decodeImage is the identity; any damage to a copy fails its CRC', (t) => {
  const arb = fc.record({ data: fc.uint8Array({ minLength: 2, maxLength: 600 }), redundant: fc.boolean(), flags: fc.nat(255), bit: fc.nat(), pick: fc.nat() });
  fuzzSync(t, 1500, arb, ({ data, redundant, flags, bit, pick }) => {
    const image = encodeImage(Buffer.from(data), redundant, flags);
    assert.equal(image.length, data.length + headerSize(redundant));
    const back = decodeImage(image, redundant);
    assert.deepEqual({ crcOk: back.crcOk, flags: back.flags, data: Buffer.from(back.data) }, { crcOk: true, flags: redundant ? flags : 0, data: Buffer.from(data) });
    // A bit flipped in the CRC or the data (not the flags byte, which the CRC does not cover).
    const spots = [0, 1, 2, 3, ...Array.from({ length: data.length }, (_, i) => i + headerSize(redundant))];
    const at = spots[pick % spots.length]!;
    image[at]! ^= 1 << (bit % 8);
    assert.equal(decodeImage(image, redundant).crcOk, false);
  });
});

test('currentCopy picks the copy written last (nextFlags), whatever the counter', (t) => {
  fuzzSync(t, 1000, fc.tuple(fc.nat(255), fc.boolean(), fc.boolean()), ([f, okA, okB]) => {
    const next = nextFlags(f);
    assert.equal(currentCopy({ crcOk: true, flags: f }, { crcOk: true, flags: next }), 1);
    assert.equal(currentCopy({ crcOk: true, flags: next }, { crcOk: true, flags: f }), 0);
    const expected = okA && okB ? 1 : okA ? 0 : okB ? 1 : -1;
    assert.equal(currentCopy({ crcOk: okA, flags: f }, { crcOk: okB, flags: next }), expected);
  });
});

test('decodeData: arbitrary data areas are entries or SF_ERR_ENV_FORMAT', (t) => {
  const sample = encodeData(new Map([['bootcmd', 'run x'], ['slotflip_slot', 'a'], ['bootcount', '0']]), 64);
  fuzzSync(t, 2000, fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.array(byteEdit, { minLength: 1, maxLength: 4 }).map((e) => applyEdits(sample, e))), (data) => {
    const r = outcome(() => decodeData(data), ['SF_ERR_ENV_FORMAT']);
    if (r.ok) for (const [n, v] of r.value) assert.ok(n.length > 0 && !n.includes('=') && !n.includes('\0') && !v.includes('\0'));
  });
});

interface EnvCase {
  redundant: boolean;
  size: number;
  bytes: Buffer;
}

/** Env files as damage leaves them: random, a valid env edited, or random data under a valid CRC. */
const envFileArb: fc.Arbitrary<EnvCase> = fc
  .record({ redundant: fc.boolean(), size: fc.integer({ min: 8, max: 400 }), kind: fc.constantFrom('random', 'edited', 'crc-valid'), entries: binEntries, raw: fc.uint8Array({ maxLength: 820 }), edits: fc.array(byteEdit, { minLength: 0, maxLength: 3 }), flags: fc.tuple(fc.nat(255), fc.nat(255)) })
  .map((c) => {
    const copies = c.redundant ? 2 : 1;
    const h = headerSize(c.redundant);
    let bytes: Buffer;
    if (c.kind === 'random') {
      bytes = Buffer.alloc(c.size * copies);
      Buffer.from(c.raw).copy(bytes);
    } else {
      const images = [0, 1].slice(0, copies).map((i) => {
        let data: Buffer;
        if (c.kind === 'crc-valid') {
          data = Buffer.alloc(c.size - h);
          Buffer.from(c.raw).copy(data);
        } else {
          const fit = new Map<string, string>();
          let need = 1;
          for (const [n, v] of c.entries) {
            need += n.length + v.length + 2;
            if (need > c.size - h) break;
            fit.set(n, v);
          }
          data = encodeData(fit, c.size - h);
        }
        return encodeImage(data, c.redundant, c.flags[i]!);
      });
      bytes = applyEdits(Buffer.concat(images), c.edits);
      // Keep the geometry: the file is as long as the copies say (short files are a separate refusal).
      bytes = Buffer.concat([bytes, Buffer.alloc(Math.max(0, c.size * copies - bytes.length))]).subarray(0, c.size * copies);
    }
    return { redundant: c.redundant, size: c.size, bytes };
  });

let fileNo = 0;
function envOn(c: EnvCase, bytes: Buffer = c.bytes) {
  const file = path.join(dir, `env-${fileNo++}.bin`);
  writeFileSync(file, bytes);
  const copies = c.redundant ? [{ device: file, offset: 0, size: c.size }, { device: file, offset: c.size, size: c.size }] : [{ device: file, offset: 0, size: c.size }];
  return { file, env: openBootEnv({ backend: 'uboot', copies }, realFs) };
}

const READ_CODES = ['SF_ERR_ENV_CRC', 'SF_ERR_ENV_FORMAT', 'SF_ERR_ENV_GEOMETRY'];

test('uboot backend: reading arbitrary env bytes gives variables or a typed refusal', async (t) => {
  await fuzzAsync(t, 700, envFileArb, async (c) => {
    const { file, env } = envOn(c);
    try {
      const r = await outcomeAsync(() => env.read(), READ_CODES);
      if (r.ok) for (const [n] of r.value) assert.ok(n.length > 0);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

test('uboot backend: an update of arbitrary env bytes writes only the inactive copy, or fails typed and writes nothing', async (t) => {
  const change = fc.record({ name: fc.constantFrom('slotflip_slot', 'bootcount', 'upgrade_available', 'x'), value: fc.oneof(fc.constantFrom('a', 'b', '1', '', 'x'.repeat(300)), fc.string({ maxLength: 20 })) });
  await fuzzAsync(t, 100, fc.tuple(envFileArb, change), async ([c, { name, value }]) => {
    const { file, env } = envOn(c);
    try {
      const before = readFileSync(file);
      const read = await outcomeAsync(() => env.read(), READ_CODES);
      const r = await outcomeAsync(() => env.update({ [name]: value }), [...READ_CODES, 'SF_ERR_ENV_TOO_LARGE', 'SF_ERR_ENV_VARIABLE']);
      const after = readFileSync(file);
      if (!r.ok) {
        assert.deepEqual(after, before, `failed update (${r.error.code}) changed the env file`);
        return;
      }
      assert.ok(read.ok, 'an update succeeded where a read failed');
      assert.deepEqual([...(await env.read())], [...r.value]);
      assert.equal(r.value.get(name), value === '' ? undefined : value);
      if (c.redundant) {
        // One copy is the old current one, byte for byte.
        const same = [0, 1].filter((i) => after.subarray(i * c.size, (i + 1) * c.size).equals(before.subarray(i * c.size, (i + 1) * c.size)));
        assert.ok(same.length >= 1, 'both copies were rewritten');
      }
    } finally {
      rmSync(file, { force: true });
    }
  });
});

test('uboot and file backends: init(vars) → read() is the identity for any UTF-8 names and values', async (t) => {
  const name = fc.string({ minLength: 1, maxLength: 10 }).filter((n) => !n.includes('=') && !n.includes('\0'));
  const value = fc.string({ maxLength: 30 }).filter((v) => !v.includes('\0'));
  const vars = fc.uniqueArray(fc.tuple(name, value), { maxLength: 8, selector: ([n]) => n }).map((p) => new Map(p));
  await fuzzAsync(t, 60, fc.tuple(vars, fc.constantFrom('uboot-single', 'uboot-redundant', 'file')), async ([v, kind]) => {
    const file = path.join(dir, `init-${fileNo++}`);
    const loc =
      kind === 'file'
        ? ({ backend: 'file', path: file } as const)
        : ({ backend: 'uboot', copies: kind === 'uboot-single' ? [{ device: file, offset: 0, size: 4096 }] : [{ device: file, offset: 0, size: 4096 }, { device: file, offset: 4096, size: 4096 }] } as const);
    try {
      const env = await initBootEnv(loc, v, realFs);
      const want = [...v].filter(([, x]) => x !== '').sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual([...(await env.read())], want);
    } finally {
      rmSync(file, { force: true });
    }
  });
});

test('file backend: arbitrary file bytes read as variables or a typed refusal', async (t) => {
  const sample = { slotflip_slot: 'a', bootcount: '0', upgrade_available: '0' };
  const json = fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((j) => JSON.stringify(j)), fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer())).map((d) => JSON.stringify(d)));
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)), json.map((s) => Buffer.from(s)), fc.array(byteEdit, { minLength: 1, maxLength: 3 }).map((e) => applyEdits(Buffer.from(JSON.stringify(sample)), e)));
  await fuzzAsync(t, 400, bytes, async (b) => {
    const file = path.join(dir, `file-env-${fileNo++}.json`);
    writeFileSync(file, b);
    try {
      const r = await outcomeAsync(() => openBootEnv({ backend: 'file', path: file }, realFs).read(), ['SF_ERR_ENV_FORMAT', 'SF_ERR_ENV_VARIABLE']);
      if (r.ok) for (const [n, v] of r.value) assert.ok(n.length > 0 && !n.includes('=') && v !== '');
    } finally {
      rmSync(file, { force: true });
    }
  });
});
