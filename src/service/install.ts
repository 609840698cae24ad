// Writes and removes the agent's init files under an optional root prefix. A plan lists
// every file and link first (so --dry-run prints exactly what would be written); files are
// replaced atomically through the FileSystem seam and only ever if slotflip wrote them.

import * as path from 'node:path';
import type { FileSystem } from '../platform/fs.js';
import { IoError } from '../errors.js';
import { ForeignServiceFileError } from './errors.js';
import { MARKER, SERVICE_NAME, checkLaunch, isOurs, type AgentLaunch, type InitSystem } from './spec.js';
import { SYSTEMD_UNIT_PATH, SYSTEMD_WANTS_LINK, renderSystemdUnit } from './systemd.js';
import { INITTAB_PATH, SYSV_SCRIPT_PATH, editInittab, renderInittabLines, renderSysvScript } from './sysv.js';
import { PROCD_LINKS, PROCD_SCRIPT_PATH, renderProcdScript } from './procd.js';

export interface PlannedFile {
  /** Path on the target system (without the root prefix). */
  path: string;
  mode: number;
  content: string;
}

export interface PlannedLink {
  path: string;
  /** What the link points to, as `systemctl enable` / `rc.common enable` would write it. */
  target: string;
}

export interface ServicePlan {
  init: InitSystem;
  files: PlannedFile[];
  links: PlannedLink[];
  /** Lines that are ours inside a shared file (BusyBox /etc/inittab). */
  inittab?: string[];
  /** What the operator still has to run on the device. */
  next: string[];
}

export interface PlanOptions {
  init: InitSystem;
  launch: AgentLaunch;
  /** sysv only: a BusyBox /etc/inittab respawn line instead of an init.d script. */
  inittab?: boolean;
}

export function planService(opts: PlanOptions): ServicePlan {
  const launch = checkLaunch(opts.launch);
  switch (opts.init) {
    case 'systemd':
      return {
        init: 'systemd',
        files: [{ path: SYSTEMD_UNIT_PATH, mode: 0o644, content: renderSystemdUnit(launch) }],
        links: [{ path: SYSTEMD_WANTS_LINK, target: SYSTEMD_UNIT_PATH }],
        next: ['systemctl daemon-reload', `systemctl restart ${SERVICE_NAME}`],
      };
    case 'sysv':
      if (opts.inittab) {
        return { init: 'sysv', files: [], links: [], inittab: renderInittabLines(launch), next: ['kill -HUP 1   # BusyBox init re-reads /etc/inittab'] };
      }
      return {
        init: 'sysv',
        files: [{ path: SYSV_SCRIPT_PATH, mode: 0o755, content: renderSysvScript(launch) }],
        links: [],
        next: [
          `update-rc.d ${SERVICE_NAME} defaults   # Debian sysvinit; on Buildroot link it as /etc/init.d/S95${SERVICE_NAME}`,
          `${SYSV_SCRIPT_PATH} start`,
        ],
      };
    case 'procd':
      return {
        init: 'procd',
        files: [{ path: PROCD_SCRIPT_PATH, mode: 0o755, content: renderProcdScript(launch) }],
        links: PROCD_LINKS.map((p) => ({ path: p, target: `../init.d/${SERVICE_NAME}` })),
        next: [`${PROCD_SCRIPT_PATH} start`],
      };
  }
}

/** Every path slotflip may have written for an init system, for uninstall. */
export function ownedPaths(init: InitSystem): { files: string[]; links: string[]; inittab: boolean } {
  if (init === 'systemd') return { files: [SYSTEMD_UNIT_PATH], links: [SYSTEMD_WANTS_LINK], inittab: false };
  if (init === 'procd') return { files: [PROCD_SCRIPT_PATH], links: PROCD_LINKS, inittab: false };
  return { files: [SYSV_SCRIPT_PATH], links: [], inittab: true };
}

export interface ServiceChange {
  written: string[];
  removed: string[];
}

function under(root: string, p: string): string {
  return path.join(root, p);
}

async function readIfThere(fs: FileSystem, file: string): Promise<string | undefined> {
  if (!(await fs.exists(file))) return undefined;
  return (await fs.readFile(file)).toString('utf8');
}

/** Atomic replace: temp file, fsync, rename, fsync of the folder. */
async function writeAtomic(fs: FileSystem, file: string, content: string, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.slotflip-tmp`);
  await fs.mkdir(dir);
  await fs.unlink(tmp);
  const h = await fs.open(tmp, 'exclusive', mode);
  try {
    await h.write(Buffer.from(content, 'utf8'), 0);
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, file);
  await fs.syncDir(dir);
}

async function refuseForeign(fs: FileSystem, file: string, verb: string): Promise<void> {
  const text = await readIfThere(fs, file);
  if (text !== undefined && !isOurs(text)) {
    throw new ForeignServiceFileError(`refusing to ${verb} ${file}: it was not written by slotflip service install`, { details: { file } });
  }
}

async function linkTarget(fs: FileSystem, file: string): Promise<string | undefined> {
  try {
    const st = await fs.lstat(file);
    return st.isSymbolicLink ? await fs.readlink(file) : '';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IoError(`reading ${file}`, { cause: err });
  }
}

export async function applyPlan(fs: FileSystem, root: string, plan: ServicePlan): Promise<ServiceChange> {
  const change: ServiceChange = { written: [], removed: [] };
  // Check everything before writing anything, so a refusal changes nothing.
  for (const f of plan.files) await refuseForeign(fs, under(root, f.path), 'replace');
  for (const l of plan.links) {
    const have = await linkTarget(fs, under(root, l.path));
    if (have !== undefined && have !== l.target) {
      throw new ForeignServiceFileError(`refusing to replace ${under(root, l.path)}: it is not slotflip's link to ${l.target}`);
    }
  }
  for (const f of plan.files) {
    await writeAtomic(fs, under(root, f.path), f.content, f.mode);
    change.written.push(under(root, f.path));
  }
  for (const l of plan.links) {
    const file = under(root, l.path);
    if ((await linkTarget(fs, file)) === undefined) {
      await fs.mkdir(path.dirname(file));
      await fs.symlink(l.target, file);
      await fs.syncDir(path.dirname(file));
    }
    change.written.push(file);
  }
  if (plan.inittab) {
    const file = under(root, INITTAB_PATH);
    const before = (await readIfThere(fs, file)) ?? '';
    await writeAtomic(fs, file, editInittab(before, plan.inittab), 0o644);
    change.written.push(file);
  }
  return change;
}

export async function removeService(fs: FileSystem, root: string, init: InitSystem): Promise<ServiceChange> {
  const owned = ownedPaths(init);
  const change: ServiceChange = { written: [], removed: [] };
  for (const f of owned.files) await refuseForeign(fs, under(root, f), 'remove');
  for (const l of owned.links) {
    const file = under(root, l);
    const target = await linkTarget(fs, file);
    if (target === undefined) continue;
    // Ours when it points at one of our (marked) files; anything else is left alone.
    const pointsAt = path.resolve(path.dirname(l), target);
    if (!owned.files.includes(pointsAt)) {
      throw new ForeignServiceFileError(`refusing to remove ${file}: it does not point to slotflip's ${owned.files.join(', ')}`);
    }
    await fs.unlink(file);
    await fs.syncDir(path.dirname(file));
    change.removed.push(file);
  }
  for (const f of owned.files) {
    const file = under(root, f);
    if (!(await fs.exists(file))) continue;
    await fs.unlink(file);
    await fs.syncDir(path.dirname(file));
    change.removed.push(file);
  }
  if (owned.inittab) {
    const file = under(root, INITTAB_PATH);
    const before = await readIfThere(fs, file);
    if (before !== undefined && before.includes(MARKER)) {
      await writeAtomic(fs, file, editInittab(before, []), 0o644);
      change.removed.push(`${file} (slotflip lines)`);
    }
  }
  return change;
}
