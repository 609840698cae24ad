// `slotflip keygen` and `slotflip bundle create|inspect|verify` through the CLI entry point:
// exit codes, printed codes on refusal, stdout output, and no partial bundle left behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { splitCommand } from '../../src/cli/commands/bundle.js';
import { samplePayload, tempDir, writeFile } from './fixtures.js';

interface Run {
  code: number;
  out: string;
  err: string;
  outBytes: Buffer;
}

async function run(argv: string[], stdin: Buffer = Buffer.alloc(0), env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out = new PassThrough();
  const err = new PassThrough();
  const outParts: Buffer[] = [];
  const errParts: Buffer[] = [];
  out.on('data', (c: Buffer) => outParts.push(c));
  err.on('data', (c: Buffer) => errParts.push(c));
  const code = await main(argv, { out, err, stdin: Readable.from([stdin]), env });
  const outBytes = Buffer.concat(outParts);
  return { code, out: outBytes.toString(), err: Buffer.concat(errParts).toString(), outBytes };
}

test('keygen writes a key pair, prints its id, and refuses to overwrite', async (t) => {
  const dir = join(tempDir(t), 'k');
  const r = await run(['keygen', '--out', dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /key id [0-9a-f]{16}/);
  assert.equal(statSync(join(dir, 'private.pem')).mode & 0o777, 0o600);
  const before = readFileSync(join(dir, 'private.pem'));
  const again = await run(['keygen', '--out', dir]);
  assert.equal(again.code, 1);
  assert.match(again.err, /^error SF_ERR_KEY: /);
  assert.ok(readFileSync(join(dir, 'private.pem')).equals(before));
  assert.equal((await run(['keygen'])).code, 2);
});

test('bundle create, inspect and verify; verify exits 1 with the failing code', async (t) => {
  const dir = tempDir(t);
  await run(['keygen', '--out', join(dir, 'k')]);
  await run(['keygen', '--out', join(dir, 'other')]);
  const rootfs = writeFile(dir, 'rootfs.img', samplePayload(300_000, 3));
  const app = writeFile(dir, 'app.tar', Buffer.from('app'));
  const out = join(dir, 'b.sfb');
  const c = await run([
    'bundle', 'create', '--board', 'qemu-arm64', '--board', 'qemu-armhf', '--version', '1.2.0', '--payload', `rootfs=${rootfs}`, '--payload', `app=${app}`,
    '--key', join(dir, 'k', 'private.pem'), '--security-version', '3', '--expires', '2099-01-01T00:00:00Z', '--chunk-size', '16K', '--pre-install', `./check "a b" c`, '-o', out,
  ]);
  assert.equal(c.code, 0, c.err);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('partial')), []);

  const i = await run(['bundle', 'inspect', out, '--json']);
  assert.equal(i.code, 0, i.err);
  const s = JSON.parse(i.out);
  assert.deepEqual(s.boards, ['qemu-arm64', 'qemu-armhf']);
  assert.equal(s.version, '1.2.0');
  assert.equal(s.securityVersion, 3);
  assert.equal(s.expires, '2099-01-01T00:00:00.000Z');
  assert.deepEqual(s.preInstall, ['./check', 'a b', 'c']);
  assert.deepEqual(s.payloads.map((p: { name: string; size: number; chunkSize: number }) => [p.name, p.size, p.chunkSize]), [['rootfs', 300_000, 16384], ['app', 3, 16384]]);
  assert.ok(s.payloads[0].zeroChunks > 0);
  const text = await run(['bundle', 'inspect', out]);
  assert.match(text.out, /security version\s+3/);
  assert.match(text.out, /rootfs .* sha256 [0-9a-f]{64}/);

  const v = await run(['bundle', 'verify', out, '--pubkey', join(dir, 'k', 'public.pem')]);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /bundle OK/);

  const wrong = await run(['bundle', 'verify', out, '--pubkey', join(dir, 'other', 'public.pem')]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /^error SF_ERR_UNTRUSTED_KEY: /);

  const tampered = Buffer.from(readFileSync(out));
  const dataAt = tampered.indexOf('payloads/rootfs') + 512 + 1000; // inside rootfs's data
  tampered[dataAt] ^= 0x01;
  writeFileSync(join(dir, 'bad.sfb'), tampered);
  const bad = await run(['bundle', 'verify', join(dir, 'bad.sfb'), '--pubkey', join(dir, 'k', 'public.pem'), '--json']);
  assert.equal(bad.code, 1);
  assert.equal(JSON.parse(bad.out).error.code, 'SF_ERR_DIGEST');
});

test('bundle create -o - writes the bundle to stdout, and verify - reads it from stdin', async (t) => {
  const dir = tempDir(t);
  await run(['keygen', '--out', dir]);
  const c = await run(['bundle', 'create', '--board', 'b', '--version', '0.1.0', '--payload', `rootfs=${writeFile(dir, 'r', samplePayload(10_000))}`, '--key', join(dir, 'private.pem'), '-o', '-']);
  assert.equal(c.code, 0, c.err);
  assert.equal(c.outBytes.subarray(0, 13).toString(), 'manifest.json');
  const v = await run(['bundle', 'verify', '-', '--pubkey', join(dir, 'public.pem')], c.outBytes);
  assert.equal(v.code, 0, v.err);
});

test('bundle create refuses bad arguments with SF_ERR_USAGE and leaves no output file', async (t) => {
  const dir = tempDir(t);
  await run(['keygen', '--out', dir]);
  const r = writeFile(dir, 'r', Buffer.from('x'));
  const base = ['bundle', 'create', '--board', 'b', '--version', '1.0.0', '--payload', `rootfs=${r}`, '--key', join(dir, 'private.pem'), '-o', join(dir, 'o.sfb')];
  const cases: string[][] = [
    base.map((a) => (a === '1.0.0' ? 'v1' : a)),
    [...base, '--expires', '2001-01-01T00:00:00Z'],
    [...base, '--expires', 'someday'],
    [...base, '--chunk-size', '1000'],
    [...base, '--security-version', '-1'],
    [...base, '--payload', `rootfs=${r}`],
    [...base, '--payload', 'Bad=x'],
    base.filter((a) => a !== '--board' && a !== 'b'),
  ];
  for (const argv of cases) {
    const res = await run(argv);
    assert.equal(res.code, 2, `${argv.join(' ')}: ${res.err}`);
    assert.match(res.err, /SF_ERR_USAGE/);
  }
  const missing = await run(base.map((a) => (a === `rootfs=${r}` ? `rootfs=${join(dir, 'nope')}` : a)));
  assert.equal(missing.code, 1);
  assert.equal(existsSync(join(dir, 'o.sfb')), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('partial')), []);
});

test('with SOURCE_DATE_EPOCH the same inputs give a byte-identical bundle', async (t) => {
  const dir = tempDir(t);
  await run(['keygen', '--out', dir]);
  const argv = ['bundle', 'create', '--board', 'b', '--version', '1.0.0', '--payload', `rootfs=${writeFile(dir, 'r', samplePayload(20_000))}`, '--key', join(dir, 'private.pem'), '-o', '-'];
  const env = { SOURCE_DATE_EPOCH: '1767225600' };
  const a = await run(argv, undefined, env);
  const b = await run(argv, undefined, env);
  assert.equal(a.code, 0, a.err);
  assert.ok(a.outBytes.equals(b.outBytes));
  const i = await run(['bundle', 'inspect', '-', '--json'], a.outBytes);
  assert.equal(JSON.parse(i.out).created, '2026-01-01T00:00:00.000Z');
});

test('splitCommand groups quoted words and expands nothing', () => {
  assert.deepEqual(splitCommand(`sh -c 'echo $HOME; ls' "x y"z`), ['sh', '-c', 'echo $HOME; ls', 'x yz']);
  assert.deepEqual(splitCommand(`a ''`), ['a', '']);
  assert.throws(() => splitCommand(`a 'b`), (e: { code?: string }) => e.code === 'SF_ERR_USAGE');
});
