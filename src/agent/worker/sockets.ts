// The worker's listening sockets, owned by the watcher and kept across worker generations, so
// connections queue in the kernel while workers come and go. The watcher must hold them without
// ever accepting: libuv accepts eagerly on any socket it listens on, so the socket is bound here
// (no poll) and put in the listening state by a one-shot helper that exits before polling.

import * as net from 'node:net';
import { lookup } from 'node:dns/promises';
import * as path from 'node:path';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { getSystemErrorName } from 'node:util';
import { constants as osConstants } from 'node:os';
import type { SocketSpec } from '../../config/device.js';
import { WorkerSocketError } from './errors.js';
import type { ProcessSeam } from './process-seam.js';

/** A bound libuv handle (TCP or Pipe wrap) that this process never polls. */
interface RawHandle {
  fd: number;
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
}

// Node's own cluster module holds shared server sockets this way (bind only, workers listen);
// it is not in the documented API but has kept its shape since Node 0.x.
const createServerHandle = (net as unknown as { _createServerHandle: (address: string | null, port: number, addressType: number) => RawHandle | number })
  ._createServerHandle;

export interface ListenSocket {
  name: string;
  kind: 'tcp' | 'unix';
  fd: number;
  /** host:port as bound (port 0 resolved), or the Unix socket path. */
  address: string;
  port: number | undefined;
}

const LISTEN_SCRIPT =
  'const net=require("net");const n=Number(process.argv[1]);const b=Number(process.argv[2]);' +
  // listen(2) happens synchronously inside listen(); exiting before the event loop turns means
  // this helper never gets to accept a connection.
  'for(let i=0;i<n;i++)new net.Server().listen({fd:3+i,backlog:b});process.exit(0)';

export class ListenSockets {
  private constructor(
    readonly sockets: readonly ListenSocket[],
    private readonly handles: RawHandle[],
  ) {}

  /** Creates every socket in `specs` in the listening state, or none (closes what it made). */
  static async open(specs: readonly SocketSpec[], seam: ProcessSeam, backlog = 511): Promise<ListenSockets> {
    const made: { socket: ListenSocket; handle: RawHandle }[] = [];
    try {
      for (const spec of specs) made.push('tcp' in spec ? await bindTcp(spec.name, spec.tcp) : await bindUnix(spec.name, spec.unix));
      if (made.length) {
        const fds = made.map((m) => m.handle.fd);
        const r = seam.runSync(process.execPath, ['-e', LISTEN_SCRIPT, String(fds.length), String(backlog)], ['ignore', 'ignore', 'pipe', ...fds]);
        if (r.status !== 0) throw new WorkerSocketError(`listen on ${made.map((m) => m.socket.address).join(', ')} failed: ${r.stderr.trim()}`);
      }
    } catch (err) {
      await Promise.all(made.map((m) => closeHandle(m.handle)));
      throw err instanceof WorkerSocketError ? err : new WorkerSocketError('cannot create the worker sockets', { cause: err });
    }
    return new ListenSockets(
      made.map((m) => m.socket),
      made.map((m) => m.handle),
    );
  }

  get fds(): number[] {
    return this.sockets.map((s) => s.fd);
  }

  get names(): string[] {
    return this.sockets.map((s) => s.name);
  }

  /** Closes the watcher's copies; a Unix socket's path is removed with it (libuv does that). */
  async close(): Promise<void> {
    await Promise.all(this.handles.splice(0).map(closeHandle));
  }
}

function closeHandle(h: RawHandle): Promise<void> {
  return new Promise((resolve) => h.close(() => resolve()));
}

function errnoError(errno: number, what: string): Error {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`${what}: ${code}`), { code, errno });
}

async function bindTcp(name: string, hostPort: string): Promise<{ socket: ListenSocket; handle: RawHandle }> {
  const cut = hostPort.lastIndexOf(':');
  let host = hostPort.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  const port = Number(hostPort.slice(cut + 1));
  let family = net.isIP(host);
  if (host && !family) {
    const found = await lookup(host);
    host = found.address;
    family = found.family;
  }
  const handle = createServerHandle(host || null, port, family || 4);
  if (typeof handle === 'number') throw new WorkerSocketError(`cannot bind ${hostPort} (socket ${name})`, { cause: errnoError(handle, `bind ${hostPort}`) });
  const out: Record<string, unknown> = {};
  handle.getsockname?.(out);
  const bound = typeof out['port'] === 'number' ? (out['port'] as number) : 0;
  // libuv defers EADDRINUSE from bind(2) to listen(2), and listen(2) on a socket whose bind
  // failed silently picks a random port. A socket without the port asked for is a failed bind.
  if (bound === 0 || (port !== 0 && bound !== port)) {
    await closeHandle(handle);
    throw new WorkerSocketError(`cannot bind ${hostPort} (socket ${name}): address in use`, { cause: errnoError(-osConstants.errno.EADDRINUSE, `bind ${hostPort}`) });
  }
  const shown = out['family'] === 'IPv6' ? `[${String(out['address'])}]` : String(out['address'] ?? host);
  return { socket: { name, kind: 'tcp', fd: handle.fd, address: `${shown}:${bound}`, port: bound }, handle };
}

async function bindUnix(name: string, file: string): Promise<{ socket: ListenSocket; handle: RawHandle }> {
  await mkdir(path.dirname(file), { recursive: true });
  await removeStaleSocket(file);
  const handle = createServerHandle(file, -1, -1);
  if (typeof handle === 'number') throw new WorkerSocketError(`cannot bind ${file} (socket ${name})`, { cause: errnoError(handle, `bind ${file}`) });
  return { socket: { name, kind: 'unix', fd: handle.fd, address: file, port: undefined }, handle };
}

/** A socket file left by a watcher that died is removed; one somebody still listens on is not. */
async function removeStaleSocket(file: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(file)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new WorkerSocketError(`${file} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(file);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new WorkerSocketError(`${file} is in use by another process`);
  await unlink(file);
}
