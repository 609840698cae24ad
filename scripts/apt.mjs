// Installs Debian packages that are missing (the test runners need root, as CI has). A
// mirror mid-sync fails one index now and then (seen here), so `apt-get update` gets three
// tries and its failure is only a warning: whether the packages install decides.
import { spawnSync } from 'node:child_process';

export function ensurePackages(packages, what) {
  const missing = packages.filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed') !== true);
  if (!missing.length) return;
  console.log(`installing Debian packages for ${what}: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (let i = 1; i <= 3; i++) {
    if (spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env }).status === 0) break;
    console.error(`apt-get update failed (try ${i} of 3)`);
  }
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`apt-get install failed (exit ${r.status}); ${what} need root and Debian's archive`);
    process.exit(1);
  }
}
