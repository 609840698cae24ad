// `slotflip mark-good`: commit the running slot (one env write clearing upgrade_available
// and bootcount) and raise the security-version floor to its release's.

import type { Command } from '../commands.js';
import { parse, helpText } from '../args.js';
import { deviceFromArgs, deviceOptions } from '../device-options.js';
import { markGood } from '../../install/commit.js';

const USAGE = 'slotflip mark-good [--config DEVICE.json] [--json]';

export const command: Command = {
  summary: 'commit the running slot after a trial boot',
  async run(argv, io) {
    const args = parse(argv, deviceOptions, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, deviceOptions)), 0;
    const r = await markGood(deviceFromArgs(args.values.config, io.env));
    if (args.values.json) io.out.write(JSON.stringify({ ok: true, ...r }) + '\n');
    else io.out.write(r.changed ? `committed slot ${r.slot}${r.version ? ` (${r.version})` : ''}\n` : `slot ${r.slot} was already committed\n`);
    return 0;
  },
};
