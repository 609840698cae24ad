// A strict, pull-style reader over tar-stream's extractor. It hands out one entry at a time
// (the caller consumes or drains it before asking for the next), refuses links, devices,
// unsafe names and anything but regular files, and insists on the end-of-archive marker, so
// a bundle cut short at an entry boundary is an error instead of a shorter bundle.

import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { SlotflipError, IoError } from '../errors.js';
import { BundleFormatError, LinkEntryError, UnsafePathError } from './errors.js';

export interface TarEntry {
  name: string;
  size: number;
  /** tar-stream's entry stream (streamx); read it to the end before calling next(). */
  stream: tar.Extract extends AsyncIterable<infer S> ? S : never;
}

const END_OF_ARCHIVE = 1024;

export function checkEntryName(name: string): void {
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\')) {
    throw new UnsafePathError(`tar entry ${JSON.stringify(name)} has an absolute or non-POSIX path`, { details: { name } });
  }
  if (name.split('/').some((part) => part === '..')) {
    throw new UnsafePathError(`tar entry ${JSON.stringify(name)} climbs out with ..`, { details: { name } });
  }
}

function checkEntryType(header: tar.Header): void {
  switch (header.type) {
    case 'file':
      return;
    case 'symlink':
    case 'link':
      throw new LinkEntryError(`tar entry ${JSON.stringify(header.name)} is a ${header.type} to ${JSON.stringify(header.linkname)}`, { details: { name: header.name } });
    case 'character-device':
    case 'block-device':
    case 'fifo':
      throw new LinkEntryError(`tar entry ${JSON.stringify(header.name)} is a ${header.type}`, { details: { name: header.name } });
    default:
      throw new BundleFormatError(`tar entry ${JSON.stringify(header.name)} is a ${header.type}, not a regular file`, { details: { name: header.name } });
  }
}

type Waiter = { resolve: (e: TarEntry | null) => void; reject: (err: unknown) => void };

export class StrictTarReader {
  private readonly extract = tar.extract();
  private fed = 0;
  private dataEnd = 0; // offset just past the last entry's padded data
  private waiter: Waiter | undefined;
  private ready: TarEntry | null | undefined; // an entry (or the end) that arrived before next()
  private unlock: ((err?: Error | null) => void) | undefined;
  private failure: Error | undefined;
  private finished = false;

  constructor(private readonly input: Readable) {
    this.extract.on('entry', (header, stream, next) => this.onEntry(header, stream as TarEntry['stream'], next));
    this.extract.on('finish', () => this.onFinish());
    this.extract.on('error', (err: Error) => this.fail(new BundleFormatError(`malformed tar: ${err.message}`, { cause: err })));
    this.extract.on('drain', () => input.resume());
    input.on('data', (chunk: Buffer) => {
      this.fed += chunk.length;
      if (!this.extract.write(chunk)) input.pause();
    });
    // streamx's typings insist on an argument; end() without one is its documented form.
    input.on('end', () => (this.extract as unknown as { end(): void }).end());
    input.on('error', (err) => this.fail(err instanceof SlotflipError ? err : new IoError('reading the bundle failed', { cause: err })));
    // A source destroyed without 'end' (a closed socket, a killed pipe) is a truncation.
    input.on('close', () => {
      if (!input.readableEnded && !this.finished) this.fail(new BundleFormatError('bundle input closed before its end (truncated)'));
    });
  }

  /** The next entry, or null after a clean end of archive. The previous entry must be consumed. */
  next(): Promise<TarEntry | null> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error('StrictTarReader.next() called twice concurrently'));
    const unlock = this.unlock;
    this.unlock = undefined;
    return new Promise<TarEntry | null>((resolve, reject) => {
      if (this.ready !== undefined) {
        const e = this.ready;
        this.ready = undefined;
        resolve(e);
        return;
      }
      this.waiter = { resolve, reject };
      unlock?.();
    });
  }

  /** Stops reading and destroys the input; later next() calls fail with `err` or a closed error. */
  destroy(err?: Error): void {
    this.fail(err ?? new BundleFormatError('bundle reader closed'));
  }

  private deliver(e: TarEntry | null): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.resolve(e);
    else this.ready = e;
  }

  private onEntry(header: tar.Header, stream: TarEntry['stream'], next: (err?: Error | null) => void): void {
    this.unlock = next;
    // Errors surface through the reader and the payload stream; this keeps streamx from
    // treating an entry error nobody listens to as unhandled.
    stream.on('error', () => {});
    try {
      checkEntryType(header);
      checkEntryName(header.name);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    // tar-stream records where an entry's data starts (not in its typings); the truncation
    // test in test/bundle/refusals.test.ts fails if that ever stops being so.
    const offset = (header as tar.Header & { byteOffset?: number }).byteOffset ?? 0;
    this.dataEnd = offset + Math.ceil(header.size / 512) * 512;
    this.deliver({ name: header.name, size: header.size, stream });
  }

  private onFinish(): void {
    if (this.failure) return;
    this.finished = true;
    if (this.fed < this.dataEnd + END_OF_ARCHIVE) {
      this.fail(new BundleFormatError('tar ends without its end-of-archive marker (truncated)', { details: { bytes: this.fed } }));
      return;
    }
    this.deliver(null);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.ready = undefined;
    const w = this.waiter;
    this.waiter = undefined;
    this.extract.destroy(err);
    if (!this.input.destroyed) this.input.destroy();
    w?.reject(err);
  }

  /** The first failure, if any (entry streams report a bare streamx error; this is the typed one). */
  get error(): Error | undefined {
    return this.failure;
  }
}
