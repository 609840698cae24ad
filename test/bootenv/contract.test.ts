// Runs the BootEnv contract against every backend and layout: uboot single, uboot redundant
// (two files, and two areas of one file), and file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { bootEnvContract } from './contract.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sf-contract-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

bootEnvContract('uboot single', {
  kind: 'uboot',
  location: (t) => ({ backend: 'uboot', copies: [{ device: join(tempDir(t), 'env.bin'), offset: 0, size: 0x4000 }] }),
});

bootEnvContract('uboot redundant, one file', {
  kind: 'uboot',
  location: (t) => {
    const f = join(tempDir(t), 'env.bin');
    return { backend: 'uboot', copies: [{ device: f, offset: 0, size: 0x4000 }, { device: f, offset: 0x4000, size: 0x4000 }] };
  },
});

bootEnvContract('uboot redundant, two files', {
  kind: 'uboot',
  location: (t) => {
    const d = tempDir(t);
    return { backend: 'uboot', copies: [{ device: join(d, 'env0.bin'), offset: 0, size: 0x2000 }, { device: join(d, 'env1.bin'), offset: 0x200, size: 0x2000 }] };
  },
});

bootEnvContract('file', {
  kind: 'file',
  location: (t) => ({ backend: 'file', path: join(tempDir(t), 'env.json') }),
});
