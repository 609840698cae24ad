// `slotflip status`: on a device (--config), what the env, the slots and the agent say; for
// a fleet (--broker), every device's retained status report.

import type { Command } from '../commands.js';
import { parse, helpText } from '../args.js';
import { deviceFromArgs, deviceOptions } from '../device-options.js';
import { readDevice } from '../../install/device.js';
import { JournalStore } from '../../agent/journal.js';
import { fleetStatus, fleetOptions } from '../fleet.js';

const options = { ...deviceOptions, ...fleetOptions } as const;
const USAGE = 'slotflip status [--config DEVICE.json | --broker URL] [--json]';

export const command: Command = {
  summary: 'show slots, env and agent state (device) or every device (--broker)',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    if (args.values.broker) return fleetStatus(args.values, io);
    const dev = deviceFromArgs(args.values.config, io.env);
    const view = await readDevice(dev);
    const journal = await new JournalStore(dev.fs, dev.config.dataDir).load();
    const { slots, state, env } = view;
    const running = state.slots[slots.booted];
    const report = {
      deviceId: dev.config.deviceId,
      board: dev.config.board.name,
      booted: slots.booted,
      primary: slots.primary,
      trial: slots.trial,
      bootcount: slots.bootcount,
      bootlimit: slots.bootlimit,
      version: running?.version ?? null,
      committed: state.committed,
      securityFloor: state.securityFloor,
      slots: state.slots,
      agent: { state: journal.state, release: journal.release, lastResult: journal.lastResult, lastError: journal.lastError },
      env: Object.fromEntries([...env].filter(([k]) => ['upgrade_available', 'bootcount', 'bootlimit', dev.config.slotVariable].includes(k))),
    };
    if (args.values.json) {
      io.out.write(JSON.stringify(report) + '\n');
      return 0;
    }
    const slotLine = (s: 'a' | 'b') => {
      const r = state.slots[s];
      const tags = [s === slots.booted ? 'booted' : '', s === slots.primary ? 'next boot' : '', s === state.committed ? 'committed' : ''].filter(Boolean);
      return `slot ${s}    ${r ? `${r.version} (security ${r.securityVersion}, release ${r.releaseId})` : 'unknown'}${tags.length ? `  [${tags.join(', ')}]` : ''}`;
    };
    io.out.write(
      [
        `device    ${report.deviceId} (board ${report.board})`,
        `running   slot ${slots.booted}, version ${report.version ?? 'unknown'}`,
        `boot      ${slots.trial ? `TRIAL of slot ${slots.primary}, boot ${slots.bootcount} of ${slots.bootlimit}` : `committed, next boot slot ${slots.primary}`}`,
        slotLine('a'),
        slotLine('b'),
        `agent     ${journal.state}${journal.lastResult ? `, last: ${journal.lastResult.result} ${journal.lastResult.version ?? ''}` : ''}${journal.lastError ? `, last error ${journal.lastError.code}` : ''}`,
      ].join('\n') + '\n',
    );
    return 0;
  },
};
