// Kernel modules for the images: Debian's kernel packages ship no modules.dep, so depmod runs
// once on the unpacked package (cached), and the images get just the modules they load, with
// their dependencies, in load order.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { QemuError } from './errors.js';
import { run } from './exec.js';

/** Runs depmod on an unpacked kernel package unless it already has a modules.dep. */
export async function ensureDepmod(kernelRoot: string, release: string): Promise<void> {
  if (fs.existsSync(path.join(kernelRoot, 'lib', 'modules', release, 'modules.dep'))) return;
  await run('depmod', ['-b', kernelRoot, release]);
}

function readDeps(kernelRoot: string, release: string): Map<string, { file: string; deps: string[] }> {
  const text = fs.readFileSync(path.join(kernelRoot, 'lib', 'modules', release, 'modules.dep'), 'utf8');
  const byName = new Map<string, { file: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const file = m[1]!;
    const name = path.basename(file).replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
    byName.set(name, { file, deps: m[2]!.split(/\s+/).filter(Boolean) });
  }
  return byName;
}

/**
 * The module files (relative to lib/modules/RELEASE) to insmod for `names`, dependencies
 * first, each once. Names follow the kernel's spelling (underscores).
 */
export function moduleLoadOrder(kernelRoot: string, release: string, names: string[]): string[] {
  const deps = readDeps(kernelRoot, release);
  const byFile = new Map([...deps.values()].map((d) => [d.file, d]));
  const order: string[] = [];
  const visit = (file: string): void => {
    if (order.includes(file)) return;
    const entry = byFile.get(file);
    if (!entry) throw new QemuError(`kernel ${release}: no module file ${file}`);
    // modules.dep lists dependencies nearest first; load the farthest first.
    for (const d of [...entry.deps].reverse()) visit(d);
    order.push(file);
  };
  for (const name of names) {
    const entry = deps.get(name.replace(/-/g, '_'));
    if (!entry) throw new QemuError(`kernel ${release} has no module ${name}`);
    visit(entry.file);
  }
  return order;
}

/** Copies module files into TREE/lib/modules/RELEASE/ (the layout insmod paths expect). */
export function copyModules(kernelRoot: string, release: string, files: string[], tree: string): void {
  for (const f of files) {
    const dest = path.join(tree, 'lib', 'modules', release, f);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(path.join(kernelRoot, 'lib', 'modules', release, f), dest);
  }
}
