// The byte link to a board's console, whatever carries it: a real tty or a pty through
// `serialport` (host only, loaded on first use), or a unix/TCP socket such as QEMU's
// `-serial unix:PATH,server=on` offers. Everything above sees one small interface.

import * as net from 'node:net';
import { lstatSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { SerialOpenError } from './errors.js';

export interface ConsoleLink {
  readonly description: string;
  /** Resolves once the bytes are handed to the OS. */
  write(data: Uint8Array): Promise<void>;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: (err?: Error) => void): void;
  close(): Promise<void>;
}

export interface OpenLinkOptions {
  baudRate?: number;
}

/** Wraps any Duplex byte stream (a socket, a SerialPort, a test's PassThrough pair). */
export function linkFromDuplex(stream: Duplex, description: string): ConsoleLink {
  let closed = false;
  return {
    description,
    write: (data) =>
      new Promise((resolve, reject) => {
        stream.write(data, (err) => (err ? reject(err) : resolve()));
      }),
    onData: (listener) => {
      stream.on('data', (chunk: Buffer | string) => listener(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1')));
    },
    onClose: (listener) => {
      stream.once('close', () => listener());
      stream.once('error', (err: Error) => listener(err));
    },
    close: () =>
      new Promise((resolve) => {
        if (closed || stream.destroyed) return resolve();
        closed = true;
        stream.once('close', () => resolve());
        stream.destroy();
      }),
  };
}

function openSocket(options: net.NetConnectOpts, description: string): Promise<ConsoleLink> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(options);
    sock.once('connect', () => {
      sock.removeAllListeners('error');
      sock.setNoDelay?.(true);
      resolve(linkFromDuplex(sock, description));
    });
    sock.once('error', (cause) => reject(new SerialOpenError(`cannot connect to ${description}`, { cause })));
  });
}

async function openSerialPort(path: string, baudRate: number): Promise<ConsoleLink> {
  let SerialPort: typeof import('serialport').SerialPort;
  try {
    ({ SerialPort } = await import('serialport'));
  } catch (cause) {
    throw new SerialOpenError('the serialport module is not available (it is a host-only dependency)', { cause });
  }
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => (err ? reject(new SerialOpenError(`cannot open ${path} at ${baudRate} baud`, { cause: err })) : resolve()));
  });
  return linkFromDuplex(port, `${path}@${baudRate}`);
}

function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Opens `spec`: `unix:PATH`, `tcp:HOST:PORT`, a path to a unix socket, or a tty/pty device
 * path (opened with serialport at `baudRate`, default 115200).
 */
export async function openLink(spec: string, opts: OpenLinkOptions = {}): Promise<ConsoleLink> {
  if (spec.startsWith('unix:')) return openSocket({ path: spec.slice(5) }, spec);
  const tcp = /^tcp:(.*):(\d+)$/.exec(spec);
  if (tcp) return openSocket({ host: tcp[1] || '127.0.0.1', port: Number(tcp[2]) }, spec);
  if (isSocketFile(spec)) return openSocket({ path: spec }, `unix:${spec}`);
  return openSerialPort(spec, opts.baudRate ?? 115200);
}
