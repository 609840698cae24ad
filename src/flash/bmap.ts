// Reader for bmaptool's block-map files (.bmap, XML, format 1.x and 2.0): which blocks of a
// sparse image hold data, with a checksum per range. The format is small and fixed, so a
// tolerant tag reader does instead of an XML dependency; anything unexpected is refused.

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { FileSystem } from '../platform/fs.js';
import { BmapError } from './errors.js';

export interface BmapRange {
  /** First and last block, inclusive, as the file says them. */
  first: number;
  last: number;
  /** Hex digest of the image bytes of this range, when the bmap carries one. */
  checksum: string | undefined;
}

export interface Bmap {
  version: string;
  imageSize: number;
  blockSize: number;
  blocksCount: number;
  mappedBlocksCount: number;
  /** 'sha256', 'sha1' (format 1.3) or undefined (format < 1.3: no checksums). */
  checksumType: string | undefined;
  ranges: BmapRange[];
}

function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? m[1]!.trim() : undefined;
}

function intTag(xml: string, name: string): number {
  const text = tag(xml, name);
  if (text === undefined || !/^\d+$/.test(text)) throw new BmapError(`bmap: <${name}> is missing or not a number`);
  return Number(text);
}

const DIGEST_LENGTH: Record<string, number> = { sha1: 40, sha256: 64 };

/** Parses and checks a .bmap file. `bytes` is the whole file (its own checksum covers it). */
export function parseBmap(bytes: Buffer, source = 'bmap'): Bmap {
  // bmaptool's comments quote tag names (e.g. "<MappedBlocksCount> blocks"); drop them first.
  const xml = bytes.toString('utf8').replace(/<!--[\s\S]*?-->/g, '');
  const root = /<bmap\s+version\s*=\s*"(\d+)\.(\d+)"\s*>/.exec(xml);
  if (!root) throw new BmapError(`${source}: not a bmap file (no <bmap version="...">)`);
  const major = Number(root[1]);
  const minor = Number(root[2]);
  if (major > 2) throw new BmapError(`${source}: bmap format ${major}.${minor} is newer than the 2.x this reader knows`);
  const imageSize = intTag(xml, 'ImageSize');
  const blockSize = intTag(xml, 'BlockSize');
  const blocksCount = intTag(xml, 'BlocksCount');
  const mappedBlocksCount = intTag(xml, 'MappedBlocksCount');
  if (blockSize <= 0) throw new BmapError(`${source}: block size 0`);
  if (blocksCount !== Math.ceil(imageSize / blockSize)) {
    throw new BmapError(`${source}: ${blocksCount} blocks of ${blockSize} bytes do not make an image of ${imageSize} bytes`);
  }

  // Format 1.4 was 2.0 released under the wrong number; 1.3 had SHA-1 under other names.
  let checksumType: string | undefined;
  let fileSumTag = '';
  let rangeAttr = '';
  if (major >= 2 || (major === 1 && minor === 4)) {
    checksumType = tag(xml, 'ChecksumType');
    fileSumTag = 'BmapFileChecksum';
    rangeAttr = 'chksum';
  } else if (major === 1 && minor === 3) {
    checksumType = 'sha1';
    fileSumTag = 'BmapFileSHA1';
    rangeAttr = 'sha1';
  }
  if (checksumType !== undefined) {
    const len = DIGEST_LENGTH[checksumType];
    if (!len) throw new BmapError(`${source}: checksum type ${checksumType} is not supported (sha256, sha1)`);
    verifyFileChecksum(bytes, tag(xml, fileSumTag), checksumType, len, source);
  }

  const mapMatch = /<BlockMap>([\s\S]*)<\/BlockMap>/.exec(xml);
  if (!mapMatch) throw new BmapError(`${source}: no <BlockMap>`);
  const ranges: BmapRange[] = [];
  let mapped = 0;
  let previousLast = -1;
  for (const m of mapMatch[1]!.matchAll(/<Range([^>]*)>([^<]*)<\/Range>/g)) {
    const attrs = m[1]!;
    const text = m[2]!.trim();
    const r = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(text);
    if (!r) throw new BmapError(`${source}: bad range "${text}"`);
    const first = Number(r[1]);
    const last = r[2] === undefined ? first : Number(r[2]);
    if (first > last || first <= previousLast || last >= blocksCount) {
      throw new BmapError(`${source}: range ${text} is out of order or past the image's ${blocksCount} blocks`);
    }
    previousLast = last;
    const sum = rangeAttr ? new RegExp(`${rangeAttr}\\s*=\\s*"([0-9a-fA-F]+)"`).exec(attrs)?.[1]?.toLowerCase() : undefined;
    ranges.push({ first, last, checksum: sum });
    mapped += last - first + 1;
  }
  if (mapped !== mappedBlocksCount) {
    throw new BmapError(`${source}: ranges cover ${mapped} blocks but MappedBlocksCount says ${mappedBlocksCount}`);
  }
  return { version: `${major}.${minor}`, imageSize, blockSize, blocksCount, mappedBlocksCount, checksumType, ranges };
}

/** bmaptool's rule: the file's digest, taken with its own digest text replaced by as many '0's. */
function verifyFileChecksum(bytes: Buffer, stated: string | undefined, type: string, len: number, source: string): void {
  if (!stated || stated.length !== len) throw new BmapError(`${source}: missing or malformed bmap file checksum`);
  const at = bytes.indexOf(stated, 0, 'latin1');
  const copy = Buffer.from(bytes);
  copy.fill(0x30, at, at + len);
  const actual = createHash(type).update(copy).digest('hex');
  if (actual !== stated.toLowerCase()) {
    throw new BmapError(`${source}: the bmap file is damaged (checksum ${actual}, stated ${stated})`);
  }
}

/** Where bmaptool looks for a bmap beside an image: IMAGE.bmap, then with extensions dropped. */
export function bmapCandidates(image: string): string[] {
  const dir = path.dirname(image);
  const parts = path.basename(image).split('.');
  const out: string[] = [];
  for (let n = parts.length; n >= 1; n--) out.push(path.join(dir, `${parts.slice(0, n).join('.')}.bmap`));
  return [...new Set(out)];
}

export async function findBmap(fs: FileSystem, image: string): Promise<string | undefined> {
  for (const candidate of bmapCandidates(image)) if (await fs.exists(candidate)) return candidate;
  return undefined;
}
