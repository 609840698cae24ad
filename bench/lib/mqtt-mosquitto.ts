// A throwaway mosquitto for the benchmark: free loopback port, TCP_NODELAY, no persistence.
// Started with `mosquitto -c <tmp conf>` and killed at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface BenchBroker {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

export async function startMosquitto(): Promise<BenchBroker> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-bench-mosq-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  await fsp.writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type information\n`);
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (/mosquitto version \S+ running/.test(log)) {
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('error', (e) => reject(new Error(`cannot start mosquitto (apt-get install mosquitto): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${log}`)));
  });
  // If the bench dies (an exception, a closed stdout), the broker must not outlive it.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
