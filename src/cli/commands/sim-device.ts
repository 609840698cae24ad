// `slotflip sim-device --config DEVICE.json`: run a simulated device (made by the demo or
// tests) in its own process, so it can be killed like a device losing power.

import type { Command } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { runSimDevice } from '../../simulator/run.js';
import { loadDeviceConfig } from '../../config/device.js';

const options = { config: { type: 'string', short: 'c', arg: 'DEVICE.json', help: 'the simulated device' } } as const;
const USAGE = 'slotflip sim-device --config DEVICE.json';
const STOP_GRACE_MS = 10_000;

export const command: Command = {
  summary: 'run a simulated device (bootloader simulator + agent) until SIGTERM',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    const file = required(args.values.config, '--config DEVICE.json');
    const id = loadDeviceConfig(file).deviceId;
    const abort = new AbortController();
    const stop = (): void => {
      abort.abort();
      // A stop that hangs (seen once with a broker connection reset just before the signal)
      // must not leave a simulated device running behind a test or the demo.
      setTimeout(() => {
        io.err.write(`${new Date().toISOString()} ${id} did not stop within ${STOP_GRACE_MS / 1000} s; exiting\n`);
        process.exit(1);
      }, STOP_GRACE_MS).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    await runSimDevice(file, { signal: abort.signal, log: (l) => void io.err.write(`${new Date().toISOString()} ${id} ${l}\n`) });
    return 0;
  },
};
