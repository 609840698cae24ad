// Test runner front: `unit` runs every test/**/*.test.ts that needs nothing but Node;
// `system` first installs the Debian packages the system tests use (apt-get, as CI does),
// then runs test/**/*.system.test.ts. Extra arguments filter files by path substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackages } from './apt.mjs';

const [mode = 'unit', ...filters] = process.argv.slice(2);
const SYSTEM_PACKAGES = ['mosquitto', 'libubootenv-tool', 'u-boot-tools', 'e2fsprogs', 'qemu-system-arm', 'u-boot-qemu', 'bmap-tools', 'systemd', 'busybox', 'python3'];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

let files = walk('test').filter((f) => f.endsWith('.test.ts') && !f.startsWith(join('test', 'qemu')));
files = files.filter((f) => (mode === 'system') === f.endsWith('.system.test.ts'));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
files.sort();
if (!files.length) {
  console.error(`no ${mode} test files matched`);
  process.exit(1);
}

if (mode === 'system') ensurePackages(SYSTEM_PACKAGES, 'the system tests');

const concurrency = process.env.SLOTFLIP_TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SLOTFLIP_TEST_MODE: mode },
});
process.exit(r.status ?? 1);
