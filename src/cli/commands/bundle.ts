// `slotflip bundle create|inspect|verify`: thin wrappers over src/bundle. create streams each
// payload twice (scan, then copy) so any image size fits in a few MiB; inspect reads only the
// manifest (no key needed); verify checks signature, every digest and every chunk CRC.

import { createReadStream, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { Command, CliIo } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { createProgress, formatBytes } from '../progress.js';
import { IoError, UsageError } from '../../errors.js';
import { realFs } from '../../platform/fs.js';
import { loadPrivateKey } from '../../crypto/keys.js';
import { loadTrustedKeys } from '../../crypto/trusted.js';
import { ChunkTable, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, MIN_CHUNKS, releaseId, type Manifest } from '../../bundle/manifest.js';
import { isSemver } from '../../bundle/version.js';
import { createBundle, type PayloadSource } from '../../bundle/create.js';
import { readBundleHeader, verifyBundle } from '../../bundle/check.js';
import { parseEndorsement } from '../../bundle/endorsement.js';

const createOptions = {
  board: { type: 'string', multiple: true, arg: 'NAME', help: 'compatible board (at least one)' },
  version: { type: 'string', arg: 'SEMVER', help: 'release version, e.g. 1.4.0' },
  payload: { type: 'string', multiple: true, arg: 'NAME=FILE', help: 'payload, e.g. rootfs=rootfs.ext4 (order is kept)' },
  key: { type: 'string', arg: 'PRIVATE.pem', help: 'Ed25519 private key that signs the manifest' },
  endorsement: { type: 'string', arg: 'FILE', help: 'endorsement.json of the signing key by an older trusted key (key rotation)' },
  'security-version': { type: 'string', arg: 'N', help: 'anti-rollback counter (default 0)' },
  expires: { type: 'string', arg: 'ISO-8601', help: 'time after which devices refuse the bundle' },
  'chunk-size': { type: 'string', arg: 'BYTES', help: `transfer chunk size, multiple of 4 KiB, K/M suffix allowed (default ${DEFAULT_CHUNK_SIZE / 1024}K, halved down to 64K until a payload has ${MIN_CHUNKS} chunks)` },
  'pre-install': { type: 'string', arg: 'CMD', help: 'command run with the staged app payload before install (quotes group words)' },
  out: { type: 'string', short: 'o', arg: 'OUT.sfb', help: 'output file, or - for stdout' },
} as const;
const inspectOptions = { json: { type: 'boolean', help: 'print the manifest summary as JSON' } } as const;
const verifyOptions = {
  pubkey: { type: 'string', multiple: true, arg: 'PUB.pem', help: 'trusted public key' },
  revoked: { type: 'string', multiple: true, arg: 'KEYID', help: 'key id to treat as revoked' },
  'ignore-expiry': { type: 'boolean', help: 'do not refuse an expired manifest' },
  json: { type: 'boolean', help: 'print the result as JSON' },
} as const;

const USAGE = {
  create: 'slotflip bundle create --board NAME --version SEMVER --payload rootfs=FILE [--payload NAME=FILE ...] --key PRIVATE.pem [--endorsement FILE] [--security-version N] [--expires ISO-8601] [--chunk-size BYTES] [--pre-install CMD] -o OUT.sfb|-',
  inspect: 'slotflip bundle inspect FILE|- [--json]',
  verify: 'slotflip bundle verify FILE|- --pubkey PUB.pem [--pubkey ...] [--json]',
};

function parseSize(text: string): number {
  const m = /^(\d+)\s*([KkMm])?(?:i?B)?$/.exec(text);
  if (!m) throw new UsageError(`--chunk-size ${text}: expected bytes, e.g. 262144 or 256K`);
  const n = Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1);
  if (n % 4096 !== 0 || n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE) {
    throw new UsageError(`--chunk-size ${text}: must be a multiple of 4 KiB between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE}`);
  }
  return n;
}

/** Splits a command line into words; '…' and "…" group, nothing is expanded (no shell). */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote) throw new UsageError(`--pre-install: unbalanced quote in ${JSON.stringify(text)}`);
  if (word !== undefined) words.push(word);
  if (words.length === 0) throw new UsageError('--pre-install: empty command');
  return words;
}

function parsePayloads(specs: string[]): PayloadSource[] {
  if (specs.length === 0) throw new UsageError('missing --payload NAME=FILE');
  const seen = new Set<string>();
  return specs.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--payload ${spec}: expected NAME=FILE`);
    const name = spec.slice(0, eq);
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(name)) throw new UsageError(`--payload ${spec}: name must be a-z, 0-9, _ or - (at most 32, starting with a letter)`);
    if (seen.has(name)) throw new UsageError(`--payload ${name} given twice`);
    seen.add(name);
    return { name, file: spec.slice(eq + 1) };
  });
}

function openInput(file: string, io: CliIo): Readable {
  return file === '-' ? (io.stdin as NodeJS.ReadableStream & Readable) : createReadStream(file);
}

async function create(argv: string[], io: CliIo): Promise<number> {
  const args = parse(argv, createOptions, { positionals: false });
  if (args.help) return io.out.write(helpText(USAGE.create, createOptions)), 0;
  const v = args.values;
  if (v.board.length === 0) throw new UsageError('missing --board NAME');
  const version = required(v.version, '--version SEMVER');
  if (!isSemver(version)) throw new UsageError(`--version ${version}: not a semantic version (e.g. 1.4.0)`);
  const sv = v['security-version'] ?? '0';
  if (!/^\d+$/.test(sv) || !Number.isSafeInteger(Number(sv))) throw new UsageError(`--security-version ${sv}: expected a non-negative integer`);
  let expires: Date | undefined;
  if (v.expires !== undefined) {
    expires = new Date(v.expires);
    if (Number.isNaN(expires.getTime())) throw new UsageError(`--expires ${v.expires}: not an ISO-8601 time`);
    if (expires.getTime() <= Date.now()) throw new UsageError(`--expires ${v.expires}: already in the past`);
  }
  const payloads = parsePayloads(v.payload);
  const out = required(v.out, '-o OUT.sfb');
  const privateKey = await loadPrivateKey(required(v.key, '--key PRIVATE.pem'));
  const endorsement = v.endorsement !== undefined ? parseEndorsement(await realFs.readFile(v.endorsement).catch((cause: unknown) => {
    throw new IoError(`cannot read endorsement ${v.endorsement}`, { cause });
  }), v.endorsement) : undefined;
  const epoch = io.env['SOURCE_DATE_EPOCH'];
  const opts = {
    boards: v.board,
    version,
    securityVersion: Number(sv),
    payloads,
    privateKey,
    ...(endorsement ? { endorsement } : {}),
    ...(v['chunk-size'] !== undefined ? { chunkSize: parseSize(v['chunk-size']) } : {}),
    ...(expires ? { expires } : {}),
    ...(v['pre-install'] !== undefined ? { preInstall: splitCommand(v['pre-install']) } : {}),
    ...(epoch && /^\d+$/.test(epoch) ? { created: new Date(Number(epoch) * 1000) } : {}),
  };
  let work = 0;
  for (const p of payloads) work += 2 * ((await realFs.stat(p.file).catch(() => undefined))?.size ?? 0);
  const bar = createProgress(io.err, 'bundle', work, io.err.isTTY === true);
  const progress = (done: number): void => bar.update(done);
  let result;
  if (out === '-') {
    result = await createBundle({ ...opts, onProgress: progress }, io.out, false);
  } else {
    // Write beside the target and rename, so a failed run never leaves a plausible bundle.
    const tmp = path.join(path.dirname(out), `.${path.basename(out)}.partial`);
    try {
      result = await createBundle({ ...opts, onProgress: progress }, createWriteStream(tmp, { mode: 0o644, highWaterMark: 1024 * 1024 }));
      await realFs.rename(tmp, out);
    } catch (err) {
      await realFs.unlink(tmp);
      throw err;
    }
  }
  bar.finish();
  const total = result.manifest.payloads.reduce((n, p) => n + p.size, 0);
  const say = out === '-' ? io.err : io.out;
  say.write(`bundle ${out === '-' ? '(stdout)' : out}: version ${version}, ${payloads.length} payload(s), ${formatBytes(total)}, key ${result.manifest.keyId}, release ${releaseId(result.manifestBytes)}\n`);
  return 0;
}

function summary(m: Manifest, manifestBytes: Buffer) {
  return {
    boards: m.compatible,
    version: m.version,
    securityVersion: m.securityVersion,
    created: m.created,
    expires: m.expires ?? null,
    keyId: m.keyId,
    releaseId: releaseId(manifestBytes),
    preInstall: m.preInstall ?? null,
    payloads: m.payloads.map((p) => {
      const t = new ChunkTable(p);
      return { name: p.name, size: p.size, sha256: p.sha256, chunkSize: p.chunkSize, chunks: t.count, zeroChunks: t.count - t.dataChunks, zeroRuns: p.zero.length };
    }),
  };
}

async function inspect(argv: string[], io: CliIo): Promise<number> {
  const args = parse(argv, inspectOptions);
  if (args.help) return io.out.write(helpText(USAGE.inspect, inspectOptions)), 0;
  if (args.positionals.length !== 1) throw new UsageError(`expected one bundle path or -\n${USAGE.inspect}`);
  const head = await readBundleHeader(openInput(args.positionals[0]!, io));
  const s = summary(head.manifest, head.manifestBytes);
  if (args.values.json) {
    io.out.write(JSON.stringify({ ok: true, verified: false, signatureKeyId: head.signature.keyId, ...s }, null, 2) + '\n');
    return 0;
  }
  const expired = s.expires !== null && Date.parse(s.expires) <= Date.now() ? ' (EXPIRED)' : '';
  const lines = [
    `boards            ${s.boards.join(', ')}`,
    `version           ${s.version}`,
    `security version  ${s.securityVersion}`,
    `created           ${s.created}`,
    `expires           ${s.expires ?? 'never'}${expired}`,
    `key id            ${s.keyId} (signature not checked; use bundle verify --pubkey)`,
    `release id        ${s.releaseId}`,
  ];
  if (s.preInstall) lines.push(`pre-install       ${JSON.stringify(s.preInstall)}`);
  lines.push('payloads');
  for (const p of s.payloads) {
    lines.push(`  ${p.name}  ${formatBytes(p.size)} (${p.size} bytes)  sha256 ${p.sha256}`);
    lines.push(`  ${' '.repeat(p.name.length)}  ${p.chunks} chunk${p.chunks === 1 ? '' : 's'} of ${formatBytes(p.chunkSize)}, ${p.zeroChunks} all-zero in ${p.zeroRuns} run(s)`);
  }
  io.out.write(lines.join('\n') + '\n');
  return 0;
}

async function verify(argv: string[], io: CliIo): Promise<number> {
  const args = parse(argv, verifyOptions);
  if (args.help) return io.out.write(helpText(USAGE.verify, verifyOptions)), 0;
  if (args.positionals.length !== 1) throw new UsageError(`expected one bundle path or -\n${USAGE.verify}`);
  if (args.values.pubkey.length === 0) throw new UsageError('missing --pubkey PUB.pem');
  const trustedKeys = await loadTrustedKeys(args.values.pubkey, args.values.revoked);
  const r = await verifyBundle(openInput(args.positionals[0]!, io), { trustedKeys, revokedKeys: args.values.revoked, checkExpiry: !args.values['ignore-expiry'] });
  if (args.values.json) {
    io.out.write(JSON.stringify({ ok: true, keyId: r.signerKeyId, version: r.manifest.version, payloads: r.payloads }) + '\n');
  } else {
    for (const p of r.payloads) io.out.write(`ok ${p.name} ${formatBytes(p.size)} sha256 ${p.sha256}\n`);
    io.out.write(`bundle OK: version ${r.manifest.version}, signed by trusted key ${r.signerKeyId}\n`);
  }
  return 0;
}

const SUB: Record<string, (argv: string[], io: CliIo) => Promise<number>> = { create, inspect, verify };

export const command: Command = {
  summary: 'create, inspect or verify an update bundle',
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const fn = sub ? SUB[sub] : undefined;
    if (!fn) {
      if (sub === '--help' || sub === '-h') return io.out.write(`${Object.values(USAGE).map((u) => `usage: ${u}`).join('\n')}\n`), 0;
      throw new UsageError(`expected create, inspect or verify\n${Object.values(USAGE).join('\n')}`);
    }
    return fn(rest, io);
  },
};
