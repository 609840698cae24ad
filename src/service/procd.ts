// The OpenWrt flavour: an rc.common script with USE_PROCD=1, so procd itself supervises the
// agent (respawn with a crash-loop limit), captures its output into logd and relays SIGHUP.

import { MARKER, SERVICE_NAME, agentArgv, agentEnv, type AgentLaunch } from './spec.js';

export const PROCD_SCRIPT_PATH = `/etc/init.d/${SERVICE_NAME}`;
/** START/STOP priorities: what `/etc/init.d/slotflip-agent enable` links in /etc/rc.d. */
export const PROCD_START = 95;
export const PROCD_STOP = 10;
export const PROCD_LINKS = [`/etc/rc.d/S${PROCD_START}${SERVICE_NAME}`, `/etc/rc.d/K${PROCD_STOP}${SERVICE_NAME}`];

export function renderProcdScript(launch: AgentLaunch): string {
  const env = Object.entries(agentEnv(launch)).map(([k, v]) => `${k}=${v}`);
  return `#!/bin/sh /etc/rc.common
# ${MARKER} --init procd.
# \`slotflip service uninstall --init procd\` removes it.

START=${PROCD_START}
STOP=${PROCD_STOP}
USE_PROCD=1

start_service() {
	procd_open_instance
	procd_set_param command ${agentArgv(launch).join(' ')}
${env.length ? `	procd_set_param env ${env.join(' ')}
` : ''}	# respawn forever within limits: a crash loop of respawn_retry exits, each sooner than
	# respawn_threshold seconds after its start, makes procd give up on the instance
	procd_set_param respawn \${respawn_threshold:-3600} \${respawn_timeout:-5} \${respawn_retry:-5}
	procd_set_param stdout 1
	procd_set_param stderr 1
	# SIGTERM to SIGKILL: room for the agent to drain and stop its worker (default 5 s)
	procd_set_param term_timeout 30
	procd_close_instance
}

# The agent reloads and validates its config on SIGHUP; no restart, the worker keeps serving.
reload_service() {
	procd_send_signal ${SERVICE_NAME} '*' HUP
}
`;
}
