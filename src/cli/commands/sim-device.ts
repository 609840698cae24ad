// `slotflip sim-device --config DEVICE.json`: run a simulated device (made by the demo or
// tests) in its own process, so it can be killed like a device losing power.

import type { Command } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { runSimDevice } from '../../simulator/run.js';
import { loadDeviceConfig } from '../../config/device.js';

const options = { config: { type: 'string', short: 'c', arg: 'DEVICE.json', help: 'the simulated device' } } as const;
const USAGE = 'slotflip sim-device --config DEVICE.json';

export const command: Command = {
  summary: 'run a simulated device (bootloader simulator + agent) until SIGTERM',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    const file = required(args.values.config, '--config DEVICE.json');
    const id = loadDeviceConfig(file).deviceId;
    const abort = new AbortController();
    process.once('SIGTERM', () => abort.abort());
    process.once('SIGINT', () => abort.abort());
    await runSimDevice(file, { signal: abort.signal, log: (l) => void io.err.write(`${new Date().toISOString()} ${id} ${l}\n`) });
    return 0;
  },
};
