// `slotflip demo`: the whole update loop on one machine with nothing installed but Node. An
// embedded broker, three simulated devices (file-backed slots, U-Boot-format env, the
// bootloader simulator, the real agent and sample worker), and three releases: a good one
// (all commit), one whose worker never becomes healthy (all roll back), and one whose kernel
// panics (the bootloader falls back).

import * as os from 'node:os';
import * as path from 'node:path';
import * as fsp from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import mqtt from 'mqtt';
import { generateSigningKeyPair, loadPrivateKey, writeKeyPair } from '../crypto/keys.js';
import { createBundle } from '../bundle/create.js';
import { startEmbeddedBroker } from '../broker/embedded.js';
import { publishBundle, type DeviceOutcome } from '../operator/publish.js';
import { setNoDelay } from '../transfer/mqtt.js';
import { createSimDevice } from './device.js';
import { runSimDevice } from './run.js';
import { simRootfsImage, type SimRootfs } from './rootfs.js';

export interface DemoOptions {
  out: NodeJS.WritableStream;
  brokerUrl?: string;
  devices?: number;
  keep?: boolean;
  imageBytes?: number;
}

const GROUP = 'demo';

export async function runDemo(o: DemoOptions): Promise<boolean> {
  const say = (s: string): void => void o.out.write(s + '\n');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'slotflip-demo-'));
  const logFile = path.join(dir, 'devices.log');
  const log = createWriteStream(logFile);
  const imageBytes = o.imageBytes ?? 8 * 1024 * 1024;
  const count = o.devices ?? 3;

  say(`slotflip demo — working in ${dir} (device logs: ${logFile})`);
  const keys = await writeKeyPair(path.join(dir, 'keys'), generateSigningKeyPair());
  const broker = o.brokerUrl ? undefined : await startEmbeddedBroker();
  const url = o.brokerUrl ?? broker!.url;
  say(`broker   ${url}${broker ? ' (embedded aedes)' : ''}`);

  const abort = new AbortController();
  const running: Promise<void>[] = [];
  for (let i = 1; i <= count; i++) {
    const id = `dev-${i}`;
    const file = await createSimDevice({
      dir: path.join(dir, id),
      deviceId: id,
      group: GROUP,
      brokerUrl: url,
      trustedKeys: [keys.publicFile],
      base: { version: '1.0.0', kernel: 'ok', worker: {} },
      slotSize: imageBytes * 2,
      healthWindowSeconds: 4,
    });
    running.push(
      runSimDevice(file, {
        signal: abort.signal,
        log: (l) => void log.write(`${new Date().toISOString()} ${id} ${l}\n`),
        onBoot: (boot, agent) => {
          say(`${id.padEnd(7)}  boots slot ${boot.slot}: runs ${boot.rootfs?.version ?? '?'}${boot.fallback ? `  <- the bootloader fell back after ${boot.failedAttempts} failed boots` : ''}`);
          agent.on('state', (state: string, event: string) => say(`${id.padEnd(7)}    ${event} -> ${state}`));
        },
      }).catch((err: unknown) => say(`${id} stopped: ${(err as Error).message}`)),
    );
  }
  say(`devices  ${count} simulated devices in group "${GROUP}", all running 1.0.0 from slot a\n`);

  const client = await mqtt.connectAsync(url, { clientId: `slotflip-demo-${process.pid}` });
  setNoDelay(client);
  const privateKey = await loadPrivateKey(keys.privateFile);
  const releases: { spec: SimRootfs; story: string; expect: DeviceOutcome }[] = [
    { spec: { version: '2.0.0', kernel: 'ok', worker: {} }, story: 'a good update', expect: 'committed' },
    { spec: { version: '3.0.0', kernel: 'ok', worker: { SAMPLE_NEVER_READY: '1' } }, story: 'an update whose worker never becomes healthy', expect: 'rolled-back' },
    { spec: { version: '4.0.0', kernel: 'panic', worker: {} }, story: 'an update whose kernel panics', expect: 'fallback' },
  ];
  let allAsExpected = true;
  try {
    for (const r of releases) {
      const image = path.join(dir, `rootfs-${r.spec.version}.img`);
      await fsp.writeFile(image, simRootfsImage(r.spec, imageBytes));
      const bundle = path.join(dir, `update-${r.spec.version}.sfb`);
      await createBundle({ boards: ['host-sim'], version: r.spec.version, payloads: [{ name: 'rootfs', file: image }], privateKey }, createWriteStream(bundle));
      say(`== publish ${r.spec.version}: ${r.story} (expect: ${r.expect})`);
      const result = await publishBundle({ client, bundle, group: GROUP, wait: true, timeoutMs: 120_000 });
      for (const [device, outcome] of [...result.outcomes].sort()) {
        const ok = outcome === r.expect;
        allAsExpected &&= ok;
        say(`${device.padEnd(7)}  => ${outcome}${ok ? '' : `  (expected ${r.expect})`}`);
      }
      say(`   publisher sent ${(result.bytesSent / 1048576).toFixed(1)} MiB for ${count} devices of a ${(result.imageBytes / 1048576).toFixed(1)} MiB image (zero chunks are never sent)\n`);
    }
  } finally {
    await client.endAsync();
    abort.abort();
    await Promise.all(running);
    await broker?.close();
    log.end();
  }
  if (!o.keep && allAsExpected) await fsp.rm(dir, { recursive: true, force: true });
  say(allAsExpected ? 'demo complete: every device committed the good update and came back from both bad ones.' : `demo FAILED: some device did not end as expected (see ${logFile})`);
  return allAsExpected;
}
