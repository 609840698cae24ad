// The sysvinit / BusyBox flavour: an /etc/init.d script whose `start` runs a small shell
// supervisor that respawns the agent, and, for BusyBox init without rc scripts, the one
// /etc/inittab line that lets init itself respawn the agent.

import { MARKER, SERVICE_NAME, agentArgv, agentEnv, nodeFlags, type AgentLaunch } from './spec.js';

export const SYSV_SCRIPT_PATH = `/etc/init.d/${SERVICE_NAME}`;
export const INITTAB_PATH = '/etc/inittab';

export interface SysvSettings {
  /** Where the supervisor and agent pid files live (/var/run exists on BusyBox and Debian). */
  runDir: string;
  /** Where the supervisor appends the agent's stdout and stderr. */
  logFile: string;
  respawnDelaySec: number;
  /** `stop` waits this long for the agent's orderly stop, then SIGKILLs the process group. */
  stopTimeoutSec: number;
}

export const SYSV_SETTINGS: SysvSettings = {
  runDir: `/var/run/${SERVICE_NAME}`,
  logFile: `/var/log/${SERVICE_NAME}.log`,
  respawnDelaySec: 5,
  stopTimeoutSec: 30,
};

export function renderSysvScript(launch: AgentLaunch, s: SysvSettings = SYSV_SETTINGS): string {
  // agentArgv is node, its flags, the entry script, then the agent's own arguments.
  const flags = nodeFlags(launch);
  const argv = agentArgv(launch);
  const node = argv[0]!;
  const [bin, ...rest] = argv.slice(1 + flags.length);
  const env = Object.entries(agentEnv(launch));
  return `#!/bin/sh
# ${MARKER} --init sysv.
# \`slotflip service uninstall --init sysv\` removes it; settings go in /etc/default/${SERVICE_NAME}.
### BEGIN INIT INFO
# Provides:          ${SERVICE_NAME}
# Required-Start:    $network $remote_fs $syslog
# Required-Stop:     $network $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: slotflip over-the-air update agent
### END INIT INFO

NAME=${SERVICE_NAME}
NODE=${node}
NODE_FLAGS="${flags.join(' ')}"
BIN=${bin}
ARGS="${rest.join(' ')}"
RUNDIR=${s.runDir}
LOG=${s.logFile}
RESPAWN_DELAY=${s.respawnDelaySec}
STOP_TIMEOUT=${s.stopTimeoutSec}
${env.map(([k, v]) => `${k}=${v}
`).join('')}[ -r /etc/default/$NAME ] && . /etc/default/$NAME
${env.length ? `export ${env.map(([k]) => k).join(' ')}
` : ''}
SUPERVISOR_PIDFILE=$RUNDIR/supervisor.pid
AGENT_PIDFILE=$RUNDIR/agent.pid
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

readpid() {
	[ -r "$1" ] && read -r pid < "$1" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Runs in the background for as long as the service is up: starts the agent, waits for it
# and starts it again after RESPAWN_DELAY. TERM stops the agent and the loop; HUP is passed on.
supervise() {
	exec >>"$LOG" 2>&1 </dev/null
	stopping=
	agent=
	waiting=
	trap 'stopping=1; kill -TERM $agent $waiting 2>/dev/null' TERM INT
	trap '[ -n "$agent" ] && kill -HUP $agent 2>/dev/null' HUP
	while [ -z "$stopping" ]; do
		$NODE $NODE_FLAGS $BIN $ARGS &
		agent=$!
		echo "$agent" > "$AGENT_PIDFILE"
		[ -n "$stopping" ] && kill -TERM "$agent" 2>/dev/null
		# wait returns early when a trapped signal arrives; wait again until the agent is gone
		status=0
		wait "$agent" || status=$?
		while kill -0 "$agent" 2>/dev/null; do status=0; wait "$agent" || status=$?; done
		agent=
		rm -f "$AGENT_PIDFILE"
		[ -n "$stopping" ] && break
		echo "$(date) $NAME: agent exited with status $status, starting it again in \${RESPAWN_DELAY}s"
		sleep "$RESPAWN_DELAY" &
		waiting=$!
		wait "$waiting"
		waiting=
	done
	rm -f "$SUPERVISOR_PIDFILE"
}

start() {
	if readpid "$SUPERVISOR_PIDFILE" >/dev/null; then
		echo "$NAME is already running"
		return 0
	fi
	mkdir -p "$RUNDIR" "$(dirname "$LOG")"
	# stale pid files (a crash, a power cut) must not make start-stop-daemon think it runs
	rm -f "$SUPERVISOR_PIDFILE" "$AGENT_PIDFILE"
	# The supervisor must leave the caller's session, or closing a terminal would hang it up.
	if command -v start-stop-daemon >/dev/null 2>&1; then
		if ! start-stop-daemon -S -q -b -m -p "$SUPERVISOR_PIDFILE" -x /bin/sh -- "$SELF" supervise; then
			echo "$NAME failed to start" >&2
			return 1
		fi
	elif command -v setsid >/dev/null 2>&1; then
		setsid /bin/sh "$SELF" supervise &
		echo $! > "$SUPERVISOR_PIDFILE"
	else
		/bin/sh "$SELF" supervise &
		echo $! > "$SUPERVISOR_PIDFILE"
	fi
	echo "$NAME started"
}

stop() {
	sup=$(readpid "$SUPERVISOR_PIDFILE")
	if [ -z "$sup" ]; then
		echo "$NAME is not running"
		rm -f "$SUPERVISOR_PIDFILE" "$AGENT_PIDFILE"
		return 0
	fi
	agent=$(readpid "$AGENT_PIDFILE")
	kill -TERM "$sup"
	waited=0
	while kill -0 "$sup" 2>/dev/null; do
		if [ "$waited" -ge "$STOP_TIMEOUT" ]; then
			echo "$NAME did not stop within \${STOP_TIMEOUT}s, killing it"
			# the supervisor leads its own process group when started through a new session
			kill -KILL -"$sup" 2>/dev/null || kill -KILL "$sup" $agent 2>/dev/null
			break
		fi
		sleep 1
		waited=$((waited + 1))
	done
	rm -f "$SUPERVISOR_PIDFILE" "$AGENT_PIDFILE"
	echo "$NAME stopped"
}

status() {
	if sup=$(readpid "$SUPERVISOR_PIDFILE"); then
		if agent=$(readpid "$AGENT_PIDFILE"); then
			echo "$NAME is running (agent pid $agent, supervisor pid $sup)"
		else
			echo "$NAME is restarting the agent (supervisor pid $sup)"
		fi
		return 0
	fi
	echo "$NAME is not running"
	return 3
}

reload() {
	if agent=$(readpid "$AGENT_PIDFILE"); then
		kill -HUP "$agent"
		echo "$NAME: asked the agent to reload its config"
		return 0
	fi
	echo "$NAME is not running"
	return 7
}

case "$1" in
	start) start ;;
	stop) stop ;;
	restart) stop; start ;;
	reload|force-reload) reload ;;
	status) status ;;
	supervise) supervise ;;
	*) echo "usage: $0 {start|stop|restart|reload|status}" >&2; exit 2 ;;
esac
`;
}

/** The marked comment and respawn line for BusyBox's /etc/inittab (id empty: the console). */
export function renderInittabLines(launch: AgentLaunch): string[] {
  // BusyBox init runs a line with shell characters as `sh -c "exec LINE"`, where an assignment
  // before the program would be taken for the program: env(1) sets the environment instead.
  const env = Object.entries(agentEnv(launch)).map(([k, v]) => `${k}=${v}`);
  return [`# ${MARKER} --init sysv --inittab`, `::respawn:${env.length ? `env ${env.join(' ')} ` : ''}${agentArgv(launch).join(' ')}`];
}

/** inittab text with our lines put in (replacing an earlier pair) or, with `lines` empty, taken out. */
export function editInittab(text: string, lines: string[]): string {
  const kept: string[] = [];
  const src = text.split('\n');
  for (let i = 0; i < src.length; i++) {
    if (src[i]!.startsWith('#') && src[i]!.includes(MARKER)) {
      if (src[i + 1]?.startsWith('::respawn:')) i++;
      continue;
    }
    kept.push(src[i]!);
  }
  while (kept.length && kept[kept.length - 1] === '') kept.pop();
  const out = [...kept, ...lines];
  return out.length ? out.join('\n') + '\n' : '';
}
