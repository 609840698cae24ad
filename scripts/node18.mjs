// Debian bookworm's Node 18 (what devices run) for the host, unpacked into .cache/node18 from
// Debian's amd64 packages, so the device build can be checked quickly without a guest.
// Prints the path of a `node` wrapper. libnode loads its bundled JS modules from the absolute
// /usr/share/nodejs, so those are copied there (only files that are not present yet).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve('.cache/node18');
const wrapper = join(dir, 'node');
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  return r.stdout;
};

if (!existsSync(join(dir, 'root/usr/bin/node'))) {
  mkdirSync(join(dir, 'debs'), { recursive: true });
  const version = run('apt-cache', ['madison', 'nodejs'])
    .split('\n')
    .map((l) => l.split('|').map((f) => f.trim()))
    .find((f) => f[1]?.startsWith('18.'))?.[1];
  if (!version) throw new Error("no Debian nodejs 18 in apt's lists: run apt-get update");
  const pkgs = [`nodejs:amd64=${version}`, `libnode108:amd64=${version}`, 'libc-ares2:amd64', 'libnghttp2-14:amd64', 'libuv1:amd64', 'libbrotli1:amd64', 'libicu72:amd64', 'node-acorn', 'node-cjs-module-lexer', 'node-undici'];
  run('apt-get', ['download', '-q', ...pkgs], { cwd: join(dir, 'debs') });
  for (const deb of readdirSync(join(dir, 'debs'))) run('dpkg', ['-x', join(dir, 'debs', deb), join(dir, 'root')]);
}
mkdirSync('/usr/share/nodejs', { recursive: true });
// cp -rn keeps what is there (also links from an earlier run, which fs.cpSync trips over).
run('cp', ['-rn', join(dir, 'root/usr/share/nodejs/.'), '/usr/share/nodejs/']);
writeFileSync(wrapper, `#!/bin/sh\nLD_LIBRARY_PATH="${dir}/root/usr/lib/x86_64-linux-gnu" exec "${dir}/root/usr/bin/node" "$@"\n`);
chmodSync(wrapper, 0o755);
const v = run(wrapper, ['-e', 'process.stdout.write(process.version)']);
if (!v.startsWith('v18.')) throw new Error(`expected Node 18, got ${v}`);
console.log(wrapper);
