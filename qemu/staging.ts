// Staging trees: the folders that become a slot's ext4 filesystem or an initramfs. Packages
// unpacked by dpkg -x are merged in with Debian's merged-/usr layout (bin -> usr/bin...), and
// every symlink stays relative so nothing written into the tree can land on the host's files.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { QemuError } from './errors.js';
import { run } from './exec.js';

const MERGED = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
const SKIP = ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/lintian', 'usr/share/locale', 'usr/share/bug', 'usr/share/gdb', 'etc/init.d', 'etc/default', 'usr/lib/debug'];

/** Creates the merged-/usr links and the usual empty folders. */
export function initTree(tree: string, extraDirs: string[] = []): void {
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'etc', 'dev', 'proc', 'sys', 'run', 'tmp', 'root', ...extraDirs]) {
    fs.mkdirSync(path.join(tree, d), { recursive: true });
  }
  for (const d of MERGED) {
    const link = path.join(tree, d);
    if (!fs.existsSync(link)) fs.symlinkSync(`usr/${d}`, link);
  }
  fs.mkdirSync(path.join(tree, 'usr', 'lib64'), { recursive: true });
}

/** Maps a path inside a package to its place in the merged tree. */
function merged(rel: string): string {
  const [first, ...rest] = rel.split('/');
  return MERGED.includes(first!) ? ['usr', first, ...rest].join('/') : rel;
}

/** Copies an unpacked package into the tree (docs and manuals left out). */
export function copyPackage(pkgRoot: string, tree: string, keep: (rel: string) => boolean = () => true): void {
  const walk = (rel: string): void => {
    const src = path.join(pkgRoot, rel);
    for (const name of fs.readdirSync(src)) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === '.unpacked' || SKIP.some((s) => r === s || r.startsWith(`${s}/`))) continue;
      const from = path.join(pkgRoot, r);
      const st = fs.lstatSync(from);
      const to = path.join(tree, merged(r));
      if (st.isDirectory()) {
        fs.mkdirSync(to, { recursive: true });
        walk(r);
      } else if (keep(r)) {
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.rmSync(to, { force: true });
        if (st.isSymbolicLink()) fs.symlinkSync(relativeTarget(fs.readlinkSync(from), merged(r)), to);
        else fs.copyFileSync(from, to);
        if (st.isFile()) fs.chmodSync(to, st.mode & 0o7777);
      }
    }
  };
  walk('');
}

/** An absolute link target rewritten relative to the link, inside the tree. */
function relativeTarget(target: string, linkRel: string): string {
  if (!target.startsWith('/')) return target;
  return path.relative(path.dirname('/' + linkRel), '/' + merged(target.slice(1))) || '.';
}

/** Installs busybox and one relative symlink per applet (the list from `hostBusybox`, the same
 * Debian build for the host's architecture). */
export async function installBusybox(busyboxRoot: string, tree: string, hostBusybox: string): Promise<void> {
  fs.copyFileSync(path.join(busyboxRoot, 'bin', 'busybox'), path.join(tree, 'usr', 'bin', 'busybox'));
  fs.chmodSync(path.join(tree, 'usr', 'bin', 'busybox'), 0o755);
  const list = (await run(hostBusybox, ['--list-full'])).stdout.split('\n').filter(Boolean);
  if (list.length < 100) throw new QemuError(`${hostBusybox} lists too few applets`);
  for (const applet of list) {
    const rel = merged(applet);
    const dest = path.join(tree, rel);
    if (fs.lstatSync(dest, { throwIfNoEntry: false })) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.symlinkSync(path.relative(path.dirname('/' + rel), '/usr/bin/busybox'), dest);
  }
}

export function writeFile(tree: string, rel: string, content: string | Buffer, mode = 0o644): void {
  const dest = path.join(tree, rel);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(dest, content, { mode });
  fs.chmodSync(dest, mode);
}

/** Bytes used by a tree (files and links), to size the filesystem made from it. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    total += st.isDirectory() ? 4096 + treeBytes(p) : Math.ceil(st.size / 4096) * 4096;
  }
  return total;
}
