// Safe extraction of an `app` payload (a tar of the worker's files) into one app slot folder.
// Nothing may land outside the folder: absolute names, `..`, writes through a link, links that
// resolve outside (checked after the whole archive, so link order cannot cheat) and device
// files are refused with typed codes. Every file and folder is fsynced before this returns.

import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { SlotflipError } from '../../errors.js';
import type { FileSystem } from '../../platform/fs.js';
import { AppTarError, AppUnsafeLinkError, AppUnsafePathError, AppUnsafeTypeError } from './errors.js';

type Kind = 'dir' | 'file' | 'symlink';

export interface ExtractStats {
  files: number;
  dirs: number;
  links: number;
  bytes: number;
}

/** How deep a chain of links inside an app may go before it counts as a loop. */
const MAX_LINK_HOPS = 40;

/** 'a/./b/' → 'a/b'; absolute names and `..` are refused. The archive root is ''. */
export function safeEntryName(name: string): string {
  if (name.includes('\0')) throw new AppUnsafePathError(`app entry name holds a NUL byte: ${JSON.stringify(name)}`);
  if (name.startsWith('/')) throw new AppUnsafePathError(`app entry ${name} is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new AppUnsafePathError(`app entry ${name} climbs out with ..`);
  return parts.join('/');
}

/**
 * Where `target` (a symlink's text, relative to the folder `dir`) ends up inside the slot,
 * following links recorded in `links`; undefined when it leaves the slot or loops.
 */
export function resolveInside(dir: string, target: string, kinds: ReadonlyMap<string, Kind>, links: ReadonlyMap<string, string>, hops = 0): string | undefined {
  if (target.startsWith('/') || hops > MAX_LINK_HOPS) return undefined;
  const stack = dir ? dir.split('/') : [];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!stack.length) return undefined;
      stack.pop();
      continue;
    }
    stack.push(part);
    const here = stack.join('/');
    if (kinds.get(here) === 'symlink') {
      stack.pop();
      const via = resolveInside(stack.join('/'), links.get(here)!, kinds, links, hops + 1);
      if (via === undefined) return undefined;
      stack.splice(0, stack.length, ...(via ? via.split('/') : []));
    }
  }
  return stack.join('/');
}

export async function extractApp(source: Readable | AsyncIterable<Uint8Array>, dest: string, fs: FileSystem): Promise<ExtractStats> {
  const kinds = new Map<string, Kind>([['', 'dir']]);
  const links = new Map<string, string>();
  const stats: ExtractStats = { files: 0, dirs: 0, links: 0, bytes: 0 };
  const at = (rel: string): string => (rel ? path.join(dest, rel) : dest);

  const ensureParents = async (rel: string, name: string): Promise<void> => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      const kind = kinds.get(prefix);
      if (kind === 'symlink') throw new AppUnsafeLinkError(`app entry ${name} would be written through the link ${prefix}`);
      if (kind === 'file') throw new AppUnsafePathError(`app entry ${name} is inside ${prefix}, which is a file`);
      if (!kind) {
        await fs.mkdir(at(prefix));
        kinds.set(prefix, 'dir');
        stats.dirs++;
      }
    }
  };
  const claim = (rel: string, kind: Kind, name: string): void => {
    const before = kinds.get(rel);
    if (before && (before !== kind || kind === 'symlink')) throw new AppUnsafePathError(`app entry ${name} appears twice (${before}, then ${kind})`);
    kinds.set(rel, kind);
  };

  const extract = tar.extract();
  const feeding = pipeline(source, extract);
  feeding.catch(() => undefined); // its failure also ends the loop below, which reports it
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const rel = safeEntryName(h.name);
      switch (h.type ?? 'file') {
        case 'directory':
          if (rel) {
            await ensureParents(rel, h.name);
            claim(rel, 'dir', h.name);
            await fs.mkdir(at(rel));
            stats.dirs++;
          }
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file': {
          if (!rel) throw new AppUnsafePathError(`app entry ${h.name} is a file where the slot folder is`);
          await ensureParents(rel, h.name);
          claim(rel, 'file', h.name);
          stats.bytes += await writeFile(fs, at(rel), entry as unknown as AsyncIterable<Uint8Array>, h.mode);
          stats.files++;
          break;
        }
        case 'symlink': {
          const target = h.linkname ?? '';
          if (!rel || !target) throw new AppUnsafeLinkError(`app link ${h.name} has no name or target`);
          if (target.startsWith('/')) throw new AppUnsafeLinkError(`app link ${h.name} points to the absolute path ${target}`);
          await ensureParents(rel, h.name);
          claim(rel, 'symlink', h.name);
          links.set(rel, target);
          await fs.symlink(target, at(rel));
          stats.links++;
          entry.resume();
          break;
        }
        case 'link': {
          // A hard link names another archive member; copy it (links cannot cross into the slot).
          let from: string;
          try {
            from = safeEntryName(h.linkname ?? '');
          } catch (cause) {
            throw new AppUnsafeLinkError(`app hard link ${h.name} points outside the app (${h.linkname})`, { cause });
          }
          if (kinds.get(from) !== 'file') throw new AppUnsafeLinkError(`app hard link ${h.name} points to ${h.linkname}, which is not a file of this app`);
          await ensureParents(rel, h.name);
          claim(rel, 'file', h.name);
          stats.bytes += await copyFile(fs, at(from), at(rel), h.mode);
          stats.files++;
          entry.resume();
          break;
        }
        default:
          throw new AppUnsafeTypeError(`app entry ${h.name} is a ${h.type}; apps hold files, folders and links only`);
      }
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    if (err instanceof SlotflipError) throw err;
    throw new AppTarError('the app payload is not a readable tar archive', { cause: err });
  }

  for (const [rel, target] of links) {
    const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (resolveInside(dir, target, kinds, links) === undefined) throw new AppUnsafeLinkError(`app link ${rel} -> ${target} leads outside the app`);
  }
  // Deepest folders first, the slot folder last: each fsync makes its entries durable.
  const dirs = [...kinds].filter(([, k]) => k === 'dir').map(([rel]) => rel);
  dirs.sort((x, y) => y.split('/').length - x.split('/').length);
  for (const rel of dirs) await fs.syncDir(at(rel));
  return stats;
}

function fileMode(mode: number | undefined): number {
  // Permission bits only (no setuid/setgid/sticky), and never writable by group or others.
  return ((mode ?? 0o644) & 0o777 & ~0o022) | 0o400;
}

async function writeFile(fs: FileSystem, file: string, data: AsyncIterable<Uint8Array>, mode: number | undefined): Promise<number> {
  const fh = await fs.open(file, 'truncate', fileMode(mode));
  let pos = 0;
  try {
    for await (const chunk of data) {
      await fh.write(chunk, pos);
      pos += chunk.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return pos;
}

async function copyFile(fs: FileSystem, from: string, to: string, mode: number | undefined): Promise<number> {
  const src = await fs.open(from, 'read');
  try {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      const buf = Buffer.alloc(64 * 1024);
      for (let pos = 0; ; ) {
        const n = await src.read(buf, 0, buf.length, pos);
        if (n === 0) return;
        yield Buffer.from(buf.subarray(0, n));
        pos += n;
      }
    }
    return await writeFile(fs, to, chunks(), mode);
  } finally {
    await src.close();
  }
}
