// slotflip's sample worker: a small HTTP service (plain JS, Node 18, no dependencies) that
// serves on the sockets the watcher passes (LISTEN_FDS, fds from 3) or on its own PORT when run
// alone, reports READY=1 / WATCHDOG=1 on the heartbeat channel, and drains on SIGTERM.
// GET / answers its version, GET /health "ok". Contract: docs/worker.md.
//
// Test knobs (env, or a knobs.json beside this file so an app bundle can carry a broken variant):
//   SAMPLE_NEVER_READY=1        serve, but never send READY=1
//   SAMPLE_READY_DELAY_MS=n     wait n ms before listening and READY=1
//   SAMPLE_CRASH_AFTER_MS=n     exit 70 n ms after start (0: before listening)
//   SAMPLE_CRASH_AFTER_READY_MS=n  exit 71 n ms after READY=1
//   SAMPLE_NO_WATCHDOG=1        send READY=1 but no heartbeats
//   SAMPLE_IGNORE_SIGTERM=1     ignore SIGTERM (tests the SIGKILL escalation)
//   SAMPLE_DELAY_MS=n           every request takes n ms (in-flight work to drain)

import { createServer } from 'node:http';
import { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function readText(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const knobs = { ...JSON.parse(readText(join(here, 'knobs.json')) ?? '{}'), ...pick(process.env, /^SAMPLE_/) };
const num = (k) => (knobs[k] === undefined || knobs[k] === '' ? undefined : Number(knobs[k]));
const flag = (k) => knobs[k] === '1' || knobs[k] === 1 || knobs[k] === true;
const version = process.env.SAMPLE_VERSION ?? readText(join(here, 'VERSION')) ?? '0.0.0';
let greeting = 'hello';

function pick(obj, re) {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => re.test(k)));
}

// ---- heartbeat channel ----------------------------------------------------------------------
let notify;
const notifyFd = Number(process.env.SLOTFLIP_NOTIFY_FD);
if (Number.isInteger(notifyFd) && notifyFd >= 3) {
  notify = new Socket({ fd: notifyFd, readable: true, writable: true });
  // The watcher never writes here; end of stream means it is gone, and a worker without its
  // watcher would hold the sockets forever, so it drains and leaves.
  notify.on('data', () => {});
  notify.on('end', () => shutdown('watcher gone'));
  notify.on('error', () => shutdown('watcher gone'));
}
function send(line) {
  if (notify && !notify.destroyed) notify.write(line + '\n');
}

// ---- the service ----------------------------------------------------------------------------
let draining = false;
const delayMs = num('SAMPLE_DELAY_MS') ?? 0;
const server = createServer((req, res) => {
  if (draining) res.setHeader('connection', 'close');
  const reply = () => {
    if (req.url === '/health') {
      res.end('ok\n');
    } else if (req.url === '/') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ version, pid: process.pid, greeting }) + '\n');
    } else {
      res.statusCode = 404;
      res.end('not found\n');
    }
  };
  if (delayMs > 0) setTimeout(reply, delayMs);
  else reply();
});
server.keepAliveTimeout = 2000;

function listenTargets() {
  const fds = Number(process.env.LISTEN_FDS);
  // sd_listen_fds() rule: the fds are ours only if LISTEN_PID names this very process.
  if (Number(process.env.LISTEN_PID) === process.pid && fds > 0) {
    for (const k of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES']) delete process.env[k];
    return Array.from({ length: fds }, (_, i) => ({ fd: 3 + i }));
  }
  return [{ port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? '127.0.0.1' }];
}

const servers = [server];
function start() {
  const targets = listenTargets();
  // One http.Server per passed socket; they share the request handler.
  for (let i = 1; i < targets.length; i++) servers.push(createServer(server.listeners('request')[0]));
  let pending = targets.length;
  targets.forEach((t, i) =>
    servers[i].listen(t, () => {
      if (--pending === 0) onListening();
    }),
  );
}

function onListening() {
  if (!flag('SAMPLE_NEVER_READY')) {
    send(`STATUS=serving version ${version}`);
    send('READY=1');
    const crashAfterReady = num('SAMPLE_CRASH_AFTER_READY_MS');
    if (crashAfterReady !== undefined) setTimeout(() => process.exit(71), crashAfterReady);
    if (!flag('SAMPLE_NO_WATCHDOG')) {
      // systemd's advice: a keep-alive at half the watchdog interval.
      const every = Math.max(50, Math.floor(Number(process.env.WATCHDOG_USEC ?? 2_000_000) / 2000));
      setInterval(() => send('WATCHDOG=1'), every).unref();
    }
  }
}

function shutdown(why) {
  if (draining) return;
  draining = true;
  send('STOPPING=1');
  send(`STATUS=draining (${why})`);
  let open = servers.length;
  for (const s of servers) {
    // close() stops accepting at once; it calls back when the last connection has ended.
    s.close(() => {
      if (--open === 0) process.exit(0);
    });
    s.closeIdleConnections?.();
  }
}

process.on('SIGTERM', () => {
  if (!flag('SAMPLE_IGNORE_SIGTERM')) shutdown('SIGTERM');
});
process.on('SIGHUP', () => {
  send('RELOADING=1');
  const file = process.env.SLOTFLIP_WORKER_CONFIG;
  try {
    const cfg = file ? JSON.parse(readText(file) ?? '{}') : {};
    greeting = cfg.greeting ?? greeting;
    send(`STATUS=reloaded greeting=${greeting}`);
  } catch (err) {
    // A broken config file must not take the service down: keep the old settings, say so.
    send(`STATUS=config rejected: ${String(err.message).replace(/\n/g, ' ')}`);
  }
  send('READY=1');
});

const crashAfter = num('SAMPLE_CRASH_AFTER_MS');
if (crashAfter === 0) process.exit(70);
if (crashAfter !== undefined) setTimeout(() => process.exit(70), crashAfter);
const readyDelay = num('SAMPLE_READY_DELAY_MS') ?? 0;
if (readyDelay > 0) setTimeout(start, readyDelay);
else start();
