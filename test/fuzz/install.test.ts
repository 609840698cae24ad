// Fuzzing the whole local install (openBundle → installBundle) on a simulated device with
// damaged and hostile bundles. Whatever the bundle, nothing outside the inactive slot and the
// data directory is opened for writing (the env only by a successful install), the booted
// slot stays byte-identical, and the install either armed the trial of exactly the signed
// payload or failed with a typed code leaving the env byte-identical.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { openBundle } from '../../src/bundle/open.js';
import { releaseId } from '../../src/bundle/manifest.js';
import { publicKeyPem } from '../../src/crypto/keys.js';
import { loadDeviceConfig } from '../../src/config/device.js';
import { openDevice } from '../../src/install/device.js';
import { installBundle } from '../../src/install/firmware.js';
import { createSimDevice } from '../../src/simulator/device.js';
import { realFs, type FileSystem } from '../../src/platform/fs.js';
import { fuzzAsync, outcomeAsync } from './support.js';
import { BUNDLE_CODES, buildBases, newSigner, sha256, streamOf, type BaseBundle } from './bundles.js';
import { buildRecipe, recipeArb } from './recipes.js';

const INSTALL_CODES = [...BUNDLE_CODES, 'SF_ERR_WRONG_BOARD', 'SF_ERR_DOWNGRADE', 'SF_ERR_SECURITY_VERSION', 'SF_ERR_NO_PAYLOAD', 'SF_ERR_SLOT_TOO_SMALL'];
const SLOT_SIZE = 64 * 1024;

const root = mkdtempSync(path.join(tmpdir(), 'slotflip-fuzz-install-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const signer = newSigner();
const keyFile = path.join(root, 'operator.pem');
writeFileSync(keyFile, publicKeyPem(signer.publicKey));
const template = path.join(root, 'template');
await createSimDevice({ dir: template, deviceId: 'fuzz-1', trustedKeys: [keyFile], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: SLOT_SIZE, worker: false });
writeFileSync(path.join(template, 'booted-slot'), 'a\n');
const pristine = { slotA: readFileSync(path.join(template, 'slot-a.img')), env: readFileSync(path.join(template, 'uboot-env.bin')) };

const INSTALLABLE = ['rootfs', 'app+rootfs'];
const bases: BaseBundle[] = await buildBases([
  { label: 'rootfs', payloads: [['rootfs', 20_000]], signer, boards: ['host-sim'] },
  { label: 'app+rootfs', payloads: [['app', 3_000], ['rootfs', 9_000]], signer, boards: ['other-board', 'host-sim'] },
  { label: 'wrong-board', payloads: [['rootfs', 5_000]], signer, boards: ['other-board'] },
  { label: 'downgrade', payloads: [['rootfs', 5_000]], signer, boards: ['host-sim'], version: '0.9.0' },
  { label: 'no-rootfs', payloads: [['app', 5_000]], signer, boards: ['host-sim'] },
  { label: 'too-big', payloads: [['rootfs', SLOT_SIZE + 1]], signer, boards: ['host-sim'] },
]);

/** realFs, recording every path a call could change (open for writing, rename, unlink...). */
function recordingFs(written: Set<string>): FileSystem {
  const note = (p: string): void => void written.add(path.resolve(p));
  return {
    ...realFs,
    open(file, mode, perm) {
      if (mode !== 'read') note(file);
      return realFs.open(file, mode, perm);
    },
    rename(from, to) {
      note(from);
      note(to);
      return realFs.rename(from, to);
    },
    unlink: (f) => (note(f), realFs.unlink(f)),
    rmrf: (f) => (note(f), realFs.rmrf(f)),
    symlink: (target, f) => (note(f), realFs.symlink(target, f)),
    mkdir: (d) => (note(d), realFs.mkdir(d)),
  };
}

let caseNo = 0;

test('installBundle of damaged bundles: no write outside the inactive slot and data dir; the exact payload or a typed failure', async (t) => {
  const outcomes = new Map<string, number>();
  await fuzzAsync(
    t,
    100,
    fc.record({ recipe: recipeArb(bases), piece: fc.constantFrom(512, 4096, 65536) }),
    async ({ recipe, piece }) => {
      const bytes = await buildRecipe(recipe, bases);
      const dir = path.join(root, `case-${caseNo++}`);
      cpSync(template, dir, { recursive: true });
      try {
        const config = loadDeviceConfig(path.join(dir, 'device.json'));
        const written = new Set<string>();
        const dev = openDevice(config, recordingFs(written));
        const r = await outcomeAsync(async () => {
          const bundle = await openBundle(streamOf(bytes, piece), { trustedKeys: [signer.trusted], now: new Date('2026-06-01T00:00:00Z') });
          try {
            return { result: await installBundle(dev, bundle, releaseId(bundle.manifestBytes)), manifestBytes: bundle.manifestBytes };
          } finally {
            await bundle.close();
          }
        }, INSTALL_CODES);
        outcomes.set(r.ok ? 'installed' : r.error.code, (outcomes.get(r.ok ? 'installed' : r.error.code) ?? 0) + 1);

        const slotB = path.resolve(config.slots.b.device);
        const envFile = path.resolve(dir, 'uboot-env.bin');
        const data = path.resolve(config.dataDir);
        for (const w of written) {
          const allowed = w === slotB || w === data || w.startsWith(data + path.sep) || (r.ok && w === envFile);
          assert.ok(allowed, `${r.ok ? 'successful' : `failed (${!r.ok && r.error.code})`} install wrote ${w}`);
        }
        assert.ok(readFileSync(config.slots.a.device).equals(pristine.slotA), 'the booted slot changed');
        if (!r.ok) {
          assert.ok(readFileSync(envFile).equals(pristine.env), `failed install (${r.error.code}) changed the env`);
          return;
        }
        const base = bases.find((b) => b.manifestBytes.equals(r.value.manifestBytes));
        assert.ok(base && INSTALLABLE.includes(base.label), `installed ${base?.label ?? 'a manifest nobody signed'}`);
        const rootfs = base.payloads.get('rootfs')!;
        assert.equal(r.value.result.slot, 'b');
        assert.ok(written.has(slotB) && written.has(envFile), 'the recorder missed the writes of an install');
        assert.equal(sha256(readFileSync(slotB).subarray(0, rootfs.length)), sha256(rootfs));
        const env = await openDevice(config).env.read();
        assert.equal(env.get(config.slotVariable), 'b');
        assert.equal(env.get('upgrade_available'), '1');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    15_000,
  );
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
});
