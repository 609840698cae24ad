// The systemd unit for the agent: Type=notify with a watchdog, so systemd knows when the
// agent is really up and restarts it when its event loop hangs, not only when it exits.
// Every choice is explained in the unit itself and in docs/service.md.

import { MARKER, SERVICE_NAME, agentArgv, agentEnv, type AgentLaunch } from './spec.js';

export interface SystemdTiming {
  /** systemd kills and restarts the agent when no WATCHDOG=1 arrives for this long. */
  watchdogSec: number;
  restartSec: number;
  /** Must exceed the worker's drainSeconds + terminateTimeoutSeconds (5 + 5 by default). */
  timeoutStopSec: number;
}

export const SYSTEMD_TIMING: SystemdTiming = { watchdogSec: 30, restartSec: 5, timeoutStopSec: 30 };

export const SYSTEMD_UNIT_PATH = `/etc/systemd/system/${SERVICE_NAME}.service`;
/** What `systemctl enable` creates for WantedBy=multi-user.target. */
export const SYSTEMD_WANTS_LINK = `/etc/systemd/system/multi-user.target.wants/${SERVICE_NAME}.service`;

export function renderSystemdUnit(launch: AgentLaunch, timing: SystemdTiming = SYSTEMD_TIMING): string {
  return `# ${MARKER} --init systemd.
# \`slotflip service uninstall --init systemd\` removes it; local changes belong in a drop-in
# (systemctl edit ${SERVICE_NAME}), which survives a reinstall.
[Unit]
Description=slotflip over-the-air update agent
Wants=network-online.target
After=network-online.target
# Never stop restarting: this agent is how the device gets repaired remotely.
StartLimitIntervalSec=0

[Service]
# The agent sends READY=1 once started and WATCHDOG=1 every WatchdogSec/2 through
# systemd-notify --pid=<agent pid>: as root that message carries the agent's own pid, so
# NotifyAccess=main holds and the worker (the agent's child) can never feed the watchdog.
Type=notify
NotifyAccess=main
${Object.entries(agentEnv(launch)).map(([k, v]) => `Environment=${k}=${v}\n`).join('')}ExecStart=${agentArgv(launch).join(' ')}
# SIGHUP makes the agent reload and validate its config; an invalid one keeps the old.
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec=${timing.watchdogSec}
Restart=always
RestartSec=${timing.restartSec}
# mixed: SIGTERM goes to the agent alone, which drains and stops its worker in order; what
# is left once the agent exits (or at TimeoutStopSec) gets SIGKILL, so no worker outlives it.
KillMode=mixed
TimeoutStopSec=${timing.timeoutStopSec}

[Install]
WantedBy=multi-user.target
`;
}
