// Peak RSS and delivered throughput of the real agent (the device build, dist/device/
// slotflip.mjs, in its own process) taking a whole update over a loopback mosquitto:
// received, CRC-checked, written, fsynced, read back, armed. The baseline is the same build
// idling (connected, no update), so the figure is what an update costs on top.
//   node --import tsx bench/agent-rss.ts [--sizes 64,256] [--node PATH] [--flags 'NODE FLAGS'|none] [--bundle FILE] [--trace] [--json FILE]
// --flags defaults to the service units' AGENT_NODE_FLAGS and AGENT_ENV (what devices run;
// 'none': node's defaults, no environment added); --bundle runs an
// already built device bundle instead of building dist/device/slotflip.mjs.

import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { createSimDevice } from '../src/simulator/device.js';
import { simRootfsImage } from '../src/simulator/rootfs.js';
import { createBundle } from '../src/bundle/create.js';
import { generateSigningKeyPair, writeKeyPair } from '../src/crypto/keys.js';
import { publishBundle } from '../src/operator/publish.js';
import { setNoDelay } from '../src/transfer/mqtt.js';
import { startMosquitto } from '../test/transfer/support.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../src/service/spec.js';
import { createWriteStream } from 'node:fs';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '64,256' }, node: { type: 'string' }, json: { type: 'string' }, flags: { type: 'string' }, bundle: { type: 'string' }, trace: { type: 'boolean', default: false } } });
const node = values.node ?? process.execPath;
const flags = values.flags === undefined ? [...AGENT_NODE_FLAGS] : values.flags === 'none' ? [] : values.flags.split(' ').filter(Boolean);
// The units' environment goes with their flags; any other --flags runs with the bench's own.
const env = values.flags === undefined ? AGENT_ENV : {};
const deviceBundle = values.bundle ?? 'dist/device/slotflip.mjs';

async function vmHwm(pid: number): Promise<number> {
  const s = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(s)![1]) / 1024;
}

async function vmRss(pid: number): Promise<number> {
  const s = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(s)![1]) / 1024;
}

async function run(mib: number): Promise<{ peak: number; idle: number; seconds: number }> {
  const broker = await startMosquitto();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-agent-rss-'));
  const pair = generateSigningKeyPair();
  const keys = await writeKeyPair(path.join(dir, 'keys'), pair);
  const size = mib * 1024 * 1024;
  const config = await createSimDevice({ dir: path.join(dir, 'dev'), deviceId: `rss-${mib}`, brokerUrl: broker.url, trustedKeys: [keys.publicFile], base: { version: '1.0.0', kernel: 'ok', worker: {} }, slotSize: size * 2, worker: false });
  // An image with no zero chunks: every byte travels, is written and read back.
  const image = simRootfsImage({ version: '2.0.0', kernel: 'ok', worker: {} }, 4096);
  const file = path.join(dir, 'rootfs.img');
  const fh = await fsp.open(file, 'w');
  await fh.write(image);
  for (let off = image.length; off < size; off += 1 << 20) await fh.write(randomBytes(Math.min(1 << 20, size - off)));
  await fh.close();
  const bundle = path.join(dir, 'u.sfb');
  await createBundle({ boards: ['host-sim'], version: '2.0.0', payloads: [{ name: 'rootfs', file }], privateKey: pair.privateKey }, createWriteStream(bundle));
  const child = spawn(node, [...flags, deviceBundle, 'sim-device', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  const op = await mqtt.connectAsync(broker.url, { clientId: `rss-op-${mib}` });
  setNoDelay(op);
  try {
    await new Promise((r) => setTimeout(r, 3000)); // connected and idle
    const idle = await vmHwm(child.pid!);
    const started = performance.now();
    // --trace: the agent's RSS every 50 ms on stderr, beside its own state log, to see which
    // phase (download, install read-back, ...) makes the peak.
    const tracer = values.trace ? setInterval(() => void vmRss(child.pid!).then((v) => process.stderr.write(`${new Date().toISOString()} rss ${v.toFixed(1)} MiB\n`), () => undefined), 50) : undefined;
    const r = await publishBundle({ client: op, bundle, devices: [`rss-${mib}`], wait: true, timeoutMs: 600_000 });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(tracer);
    if (r.outcomes.get(`rss-${mib}`) !== 'committed') throw new Error(`update ended ${r.outcomes.get(`rss-${mib}`)}`);
    return { peak: await vmHwm(child.pid!), idle, seconds };
  } finally {
    child.kill('SIGTERM');
    // Seen once: a sim-device whose broker connection had just been reset outlived SIGTERM,
    // and the bench waited for it for ever. Its figures are taken; do not hang on it.
    if (child.exitCode === null && child.signalCode === null) {
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await once(child, 'exit');
      clearTimeout(killer);
    }
    await op.endAsync();
    await broker.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

if (!values.bundle && spawnSync(process.execPath, ['scripts/build.mjs']).status !== 0) throw new Error('build failed');
const rows: { name: string; value: number; unit: string; baseline: string; baselineValue: number; ratio: number }[] = [];
const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`agent (device build) on ${version}${flags.length ? ` ${flags.join(' ')}` : ''}${Object.entries(env).map(([k, v]) => ` ${k}=${v}`).join('')}, loopback mosquitto, incompressible image`);
console.log('image     idle MiB  peak MiB  update s  MiB/s (whole update: download, fsync, read-back, arm, reboot, trial, commit)');
for (const mib of values.sizes!.split(',').map(Number)) {
  const r = await run(mib);
  console.log(`${String(mib).padStart(4)} MiB  ${r.idle.toFixed(1).padStart(8)}  ${r.peak.toFixed(1).padStart(8)}  ${r.seconds.toFixed(1).padStart(8)}  ${(mib / r.seconds).toFixed(1).padStart(6)}`);
  rows.push({ name: `agent-rss-${mib}m`, value: r.peak, unit: 'MiB', baseline: 'the same agent idle before the update', baselineValue: r.idle, ratio: r.peak / r.idle });
}
if (values.json) await fsp.writeFile(values.json, JSON.stringify(rows, null, 2) + '\n');
