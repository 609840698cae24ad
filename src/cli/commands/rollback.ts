// `slotflip rollback`: on the device (--local) point the env back at the previous slot; from
// an operator host (--broker) send a signed rollback command to one device.

import type { Command } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { deviceFromArgs, deviceOptions } from '../device-options.js';
import { fleetOptions, sendCommand } from '../fleet.js';
import { rollback } from '../../install/commit.js';
import { UsageError } from '../../errors.js';

const options = {
  ...deviceOptions,
  ...fleetOptions,
  local: { type: 'boolean', help: 'act on this device (with --config)' },
  device: { type: 'string', arg: 'ID', help: 'with --broker: the device to roll back' },
  key: { type: 'string', arg: 'PRIVATE.pem', help: 'with --broker: operator key that signs the command' },
} as const;
const USAGE = 'slotflip rollback --local [--config DEVICE.json] | --broker URL --device ID --key PRIVATE.pem';

export const command: Command = {
  summary: 'roll back to the previous slot (locally, or by a signed command over MQTT)',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    const v = args.values;
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    if (v.broker) {
      const device = required(v.device, '--device ID');
      await sendCommand(v, io, 'rollback', device, required(v.key, '--key PRIVATE.pem'));
      io.out.write(`sent a signed rollback command to ${device}; watch it with slotflip status --broker ${v.broker}\n`);
      return 0;
    }
    if (!v.local) throw new UsageError(`say --local (this device) or --broker URL --device ID\n${USAGE}`);
    const r = await rollback(deviceFromArgs(v.config, io.env));
    if (v.json) io.out.write(JSON.stringify({ ok: true, ...r }) + '\n');
    else io.out.write(`env points at slot ${r.to}${r.version ? ` (${r.version})` : ''} again${r.needsReboot ? '; reboot to run it' : ''}\n`);
    return 0;
  },
};
