// `slotflip demo`: the update loop end to end on this machine (embedded broker, simulated
// devices). Exits non-zero if any device does not end as the story says.

import type { Command } from '../commands.js';
import { parse, helpText } from '../args.js';
import { runDemo } from '../../simulator/demo.js';

const options = {
  broker: { type: 'string', arg: 'URL', help: 'use this broker instead of the embedded one' },
  devices: { type: 'string', arg: 'N', help: 'number of simulated devices (default 3)' },
  keep: { type: 'boolean', help: 'keep the working folder (devices, bundles, logs)' },
} as const;

export const command: Command = {
  summary: 'show the whole update loop: 3 simulated devices commit one update and roll back two bad ones',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText('slotflip demo [--broker URL] [--devices N] [--keep]', options)), 0;
    const ok = await runDemo({
      out: io.out,
      ...(args.values.broker ? { brokerUrl: args.values.broker } : {}),
      ...(args.values.devices ? { devices: Number(args.values.devices) } : {}),
      keep: args.values.keep,
    });
    return ok ? 0 : 1;
  },
};
