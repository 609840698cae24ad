// Host tools and target-architecture Debian packages for the QEMU suite. Host tools come from
// apt-get; target packages are fetched with `apt-get download PKG:ARCH` and unpacked with
// `dpkg -x` into qemu/.work/ (git-ignored), once per package version: no chroot, no root-only steps.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QemuError } from './errors.js';
import { have, run } from './exec.js';

export const HOST_PACKAGES = [
  'qemu-system-arm', 'qemu-system-mips', 'u-boot-qemu', 'u-boot-tools', 'libubootenv-tool',
  'e2fsprogs', 'fdisk', 'cpio', 'kmod',
];
/** One executable per host package, to skip apt-get when everything is there. */
const HOST_PROBES = ['qemu-system-aarch64', 'qemu-system-mips64el', 'mkimage', 'fw_printenv', 'mke2fs', 'sfdisk', 'cpio', 'depmod'];

/** Node 18 and what libnode loads at run time (QEMU-NOTES: about 90 MiB unpacked). */
export const NODE_PACKAGES = ['nodejs', 'libnode108', 'libc6', 'libbrotli1', 'libc-ares2', 'libicu72', 'libnghttp2-14', 'libssl3', 'libstdc++6', 'libgcc-s1', 'libuv1', 'zlib1g'];
export const NODE_ALL_PACKAGES = ['node-acorn', 'node-cjs-module-lexer', 'node-undici'];
/** fw_printenv/fw_setenv in the guest: the MIPS first stage counts boots with them. */
export const ENV_TOOL_PACKAGES = ['libubootenv-tool', 'libubootenv0.1', 'libyaml-0-2'];
export const NODE_MAJOR = '18';

/** The slotflip checkout: found upwards from this module (qemu/ in the tree, dist/ when bundled). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'qemu', 'guest')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new QemuError('cannot find the slotflip checkout (qemu/guest) above ' + fileURLToPath(import.meta.url));
}

/** The cache and build folder: $SLOTFLIP_QEMU_WORK or qemu/.work. */
export function workDir(): string {
  return process.env['SLOTFLIP_QEMU_WORK'] ?? path.join(repoRoot(), 'qemu', '.work');
}

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

/**
 * `apt-get update`, tolerant: a mirror mid-sync fails one index now and then (seen here), so
 * it gets three tries and a last failure is only logged; the download or install that follows
 * decides.
 */
async function aptUpdate(log: (s: string) => void = () => {}): Promise<void> {
  for (let i = 1; i <= 3; i++) {
    try {
      await run('apt-get', ['update', '-qq'], { env: aptEnv });
      return;
    } catch (err) {
      log(`apt-get update failed (try ${i} of 3): ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

/** Installs the host tools when one is missing (needs root and Debian's archive, as CI has). */
export async function ensureHostTools(log: (s: string) => void = () => {}): Promise<void> {
  const missing: string[] = [];
  for (const p of HOST_PROBES) if (!(await have(p))) missing.push(p);
  if (!fs.existsSync('/usr/lib/u-boot/qemu_arm64/u-boot.bin')) missing.push('u-boot-qemu');
  if (!missing.length) return;
  log(`installing host tools (missing: ${missing.join(', ')})`);
  await aptUpdate(log);
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...HOST_PACKAGES], { env: aptEnv });
}

async function ensureForeignArch(arch: string): Promise<void> {
  if (fs.existsSync(path.join(workDir(), 'pkgs', arch, 'kernel-package'))) return;
  const r = await run('dpkg', ['--print-foreign-architectures']);
  const native = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  if (arch === native || r.stdout.split('\n').includes(arch)) return;
  await run('dpkg', ['--add-architecture', arch]);
  await aptUpdate();
}

/**
 * Candidate versions of many PKG[:ARCH] at once (apt-cache takes seconds per call here), memoised
 * in qemu/.work/pkgs/resolved.json so a warm cache needs no apt call at all.
 */
async function candidates(specs: string[]): Promise<Map<string, string | undefined>> {
  const file = path.join(workDir(), 'pkgs', 'resolved.json');
  const memo: Record<string, string> = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const result = new Map<string, string | undefined>();
  const ask = specs.filter((s) => !(s in memo));
  if (ask.length) {
    const r = await run('apt-cache', ['policy', ...ask], { allowFail: true });
    // Output: "name[:arch]:" then "  Installed: ..." "  Candidate: V" per package.
    let current: string | undefined;
    for (const line of r.stdout.split('\n')) {
      const head = /^(\S+):$/.exec(line);
      if (head) current = head[1];
      const c = /^\s+Candidate:\s*(\S+)/.exec(line);
      if (c && current && c[1] !== '(none)') {
        const key = ask.find((s) => s === current) ?? ask.find((s) => !s.includes(':') && current!.split(':')[0] === s);
        if (key) memo[key] = c[1]!;
      }
    }
    for (const s of ask) memo[s] ??= ''; // no candidate: remembered too
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(memo, null, 2) + '\n');
  }
  for (const s of specs) result.set(s, memo[s] || undefined);
  return result;
}

/** Resolves a meta package (linux-image-arm64) to the real one it depends on. */
export async function resolveKernelPackage(meta: string, arch: string): Promise<string> {
  if (/\d+\.\d+\.\d+-/.test(meta)) return meta;
  const file = path.join(workDir(), 'pkgs', arch, 'kernel-package');
  if (fs.existsSync(file)) {
    const [m, real] = fs.readFileSync(file, 'utf8').trim().split(' ');
    if (m === meta && real) return real;
  }
  const r = await run('apt-cache', ['depends', `${meta}:${arch}`]);
  const m = /Depends:\s*(linux-image-[0-9][^:\s]*)/.exec(r.stdout);
  if (!m) throw new QemuError(`cannot resolve kernel package ${meta}:${arch}`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${meta} ${m[1]}\n`);
  return m[1]!;
}

export interface UnpackedPackage {
  name: string;
  version: string;
  /** Folder holding the package's files as dpkg -x unpacked them. */
  root: string;
}

/**
 * Downloads and unpacks packages of one architecture ('all' packages too), each into its own
 * folder qemu/.work/pkgs/ARCH/NAME_VERSION. Already unpacked versions are reused.
 */
export async function fetchPackages(arch: string, names: string[], log: (s: string) => void = () => {}): Promise<UnpackedPackage[]> {
  await ensureForeignArch(arch);
  const debDir = path.join(workDir(), 'debs', arch);
  fs.mkdirSync(debDir, { recursive: true });
  const out: UnpackedPackage[] = [];
  const archSpecs = names.map((spec) => spec.split('=')[0]!).map((n) => (n.includes(':') ? n : `${n}:${arch}`));
  const known = await candidates(archSpecs);
  // Architecture-independent packages (node-acorn) have no PKG:ARCH candidate.
  const plain = await candidates(archSpecs.filter((s) => !known.get(s)).map((s) => s.split(':')[0]!));
  // Resolve every package first, then fetch what is missing with one apt-get call: apt's
  // start-up costs seconds with four architectures configured, and it downloads in parallel.
  const wanted: { name: string; version: string; qualified: string; root: string }[] = [];
  for (const spec of names) {
    const [name, pinned] = spec.split('=') as [string, string | undefined];
    const archSpec = name.includes(':') ? name : `${name}:${arch}`;
    let version = pinned ?? known.get(archSpec);
    let qualified = archSpec;
    if (!version) {
      version = plain.get(name);
      qualified = name;
    }
    if (!version) throw new QemuError(`no Debian package ${archSpec} (is the ${arch} architecture in apt's sources?)`);
    if (name === 'nodejs' && !version.startsWith(`${NODE_MAJOR}.`)) {
      throw new QemuError(`nodejs:${arch} candidate is ${version}; the device runs Node ${NODE_MAJOR} (pin nodejs=${NODE_MAJOR}.x)`);
    }
    const bare = name.replace(/:.*/, '');
    const root = path.join(workDir(), 'pkgs', arch, `${bare}_${version.replace(/[:~+]/g, '_')}`);
    wanted.push({ name: bare, version, qualified, root });
  }
  const missing = wanted.filter((w) => !fs.existsSync(path.join(w.root, '.unpacked')));
  if (missing.length) {
    log(`downloading ${missing.map((m) => `${m.qualified}=${m.version}`).join(' ')}`);
    await run('apt-get', ['download', '-qq', ...missing.map((m) => `${m.qualified}=${m.version}`)], { cwd: debDir, env: aptEnv });
    const debs = fs.readdirSync(debDir).filter((f) => f.endsWith('.deb'));
    for (const m of missing) {
      // apt names files NAME_VERSION_ARCH.deb with the epoch's colon as %3a.
      const prefix = `${m.name}_${m.version.replace(/:/g, '%3a')}_`;
      const deb = debs.find((f) => f.startsWith(prefix));
      if (!deb) throw new QemuError(`apt-get download ${m.qualified}=${m.version} left no ${prefix}*.deb in ${debDir}`);
      fs.rmSync(m.root, { recursive: true, force: true });
      fs.mkdirSync(m.root, { recursive: true });
      await run('dpkg', ['-x', path.join(debDir, deb), m.root]);
      fs.writeFileSync(path.join(m.root, '.unpacked'), `${m.qualified}=${m.version}\n`);
      fs.rmSync(path.join(debDir, deb));
    }
  }
  for (const w of wanted) out.push({ name: w.name, version: w.version, root: w.root });
  return out;
}

export interface TargetPackages {
  arch: string;
  kernelPackage: string;
  /** The kernel release, the name of its lib/modules folder (6.1.0-50-arm64). */
  kernelRelease: string;
  kernel: UnpackedPackage;
  busybox: UnpackedPackage;
  /** busybox-static of the host's architecture, same version: it lists the applets to link. */
  hostBusybox: string;
  node: UnpackedPackage[];
  envTools: UnpackedPackage[];
}

/** Everything an image of ARCH needs, from cache when present. */
export async function ensureTargetPackages(arch: string, kernelMeta: string, log: (s: string) => void = () => {}): Promise<TargetPackages> {
  const kernelPackage = await resolveKernelPackage(kernelMeta, arch);
  const all = await fetchPackages(arch, [kernelPackage, 'busybox-static', ...NODE_PACKAGES, ...NODE_ALL_PACKAGES, ...ENV_TOOL_PACKAGES], log);
  const pick = (names: string[]): UnpackedPackage[] => names.map((n) => all.find((p) => p.name === n)!);
  const [kernel, busybox] = pick([kernelPackage, 'busybox-static']);
  const node = pick([...NODE_PACKAGES, ...NODE_ALL_PACKAGES]);
  const envTools = pick(ENV_TOOL_PACKAGES);
  // The host's own busybox may be Debian's other build (package busybox) with other applets.
  const native = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  const [hostBusybox] = await fetchPackages(native, ['busybox-static'], log);
  const source = (v: string): string => v.replace(/\+b\d+$/, '');
  if (source(hostBusybox!.version) !== source(busybox!.version)) {
    throw new QemuError(`busybox-static ${busybox!.version} (${arch}) and ${hostBusybox!.version} (${native}) differ: the applet list would not match`);
  }
  const modules = fs.readdirSync(path.join(kernel!.root, 'lib', 'modules'));
  if (modules.length !== 1) throw new QemuError(`${kernelPackage}: expected one lib/modules folder, found ${modules.join(', ')}`);
  const hostBusyboxBin = path.join(hostBusybox!.root, 'bin', 'busybox');
  return { arch, kernelPackage, kernelRelease: modules[0]!, kernel: kernel!, busybox: busybox!, hostBusybox: hostBusyboxBin, node, envTools };
}
