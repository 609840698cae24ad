// Test runner front: `unit` runs every test/**/*.test.ts that needs nothing but Node;
// `system` first installs the Debian packages the system tests use (apt-get, as CI does),
// then runs test/**/*.system.test.ts. Extra arguments filter files by path substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

if (mode === 'system') {
  const missing = SYSTEM_PACKAGES.filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed') !== true);
  if (missing.length) {
    console.log(`installing Debian packages for the system tests: ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    // A mirror mid-sync makes `apt-get update` fail for one index; what matters is whether
    // the packages then install, so update gets a few tries and its failure is only a warning.
    for (let i = 1; i <= 3; i++) {
      if (spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status === 0) break;
      console.error(`apt-get update failed (try ${i} of 3)`);
    }
    const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`apt-get install failed (exit ${r.status}); system tests need root and Debian's archive`);
      process.exit(1);
    }
  }
}

const concurrency = process.env.SLOTFLIP_TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SLOTFLIP_TEST_MODE: mode },
});
process.exit(r.status ?? 1);
