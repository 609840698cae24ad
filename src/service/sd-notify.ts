// The agent's side of systemd's Type=notify: READY=1, WATCHDOG=1 and STOPPING=1 to
// $NOTIFY_SOCKET. Node has no AF_UNIX datagram sockets, so the message goes through
// systemd-notify (same package as systemd), run with --pid=<agent pid> and --no-block.
//
// Why that works with NotifyAccess=main: systemd-notify (v252, checked) puts the --pid value
// into SCM_CREDENTIALS; the kernel allows that only with CAP_SYS_ADMIN, so as root the
// message arrives as the agent's own. Unprivileged it would arrive from the helper and be
// refused; the unit runs the agent as root. --no-block skips the BARRIER=1 round trip, which
// is sent from the helper's own pid and would only add a refused message per ping.
// All calls are no-ops (resolving false) when NOTIFY_SOCKET is unset: sysv, procd, a shell.

import { execFile } from 'node:child_process';
import { SdNotifyError } from './errors.js';

export interface NotifySeam {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read. */
  env: NodeJS.ProcessEnv;
  /** The pid the messages speak for (the agent's). */
  pid: number;
  /** Runs systemd-notify with `args` and NOTIFY_SOCKET in its environment; rejects when it fails. */
  run(args: string[], env: NodeJS.ProcessEnv): Promise<void>;
}

const HELPER = 'systemd-notify';
const HELPER_TIMEOUT_MS = 5000;

function runHelper(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(HELPER, args, { env, timeout: HELPER_TIMEOUT_MS, encoding: 'utf8' }, (err, _out, stderr) => {
      if (err) reject(Object.assign(err, { stderr: stderr.trim() }));
      else resolve();
    });
  });
}

export const processNotifySeam: NotifySeam = {
  get env() {
    return process.env;
  },
  get pid() {
    return process.pid;
  },
  run: runHelper,
};

async function send(state: string, seam: NotifySeam): Promise<boolean> {
  const socket = seam.env['NOTIFY_SOCKET'];
  if (!socket) return false;
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: seam.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  try {
    await seam.run(['--no-block', `--pid=${seam.pid}`, state], env);
  } catch (cause) {
    const detail = (cause as { stderr?: string }).stderr;
    throw new SdNotifyError(`sending ${state} to systemd (${socket}) through ${HELPER} failed${detail ? `: ${detail}` : ''}`, { cause });
  }
  return true;
}

/** Startup finished: systemd moves the unit from "activating" to "active". */
export function notifyReady(seam: NotifySeam = processNotifySeam): Promise<boolean> {
  return send('READY=1', seam);
}

/** Keep-alive; must arrive at least every WatchdogSec or systemd restarts the agent. */
export function notifyWatchdog(seam: NotifySeam = processNotifySeam): Promise<boolean> {
  return send('WATCHDOG=1', seam);
}

/** The agent is shutting down on purpose (shown as "deactivating"). */
export function notifyStopping(seam: NotifySeam = processNotifySeam): Promise<boolean> {
  return send('STOPPING=1', seam);
}

/**
 * How often to call notifyWatchdog(): half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
 * advises. Undefined when there is no watchdog, or when WATCHDOG_PID names another process
 * (the variables were inherited, not meant for us).
 */
export function watchdogIntervalMs(seam: NotifySeam = processNotifySeam): number | undefined {
  const usec = seam.env['WATCHDOG_USEC'];
  if (!usec || !seam.env['NOTIFY_SOCKET']) return undefined;
  const forPid = seam.env['WATCHDOG_PID'];
  if (forPid && Number(forPid) !== seam.pid) return undefined;
  const n = Number(usec);
  if (!Number.isSafeInteger(n) || n <= 0) return undefined;
  return Math.max(1, Math.floor(n / 2000));
}
