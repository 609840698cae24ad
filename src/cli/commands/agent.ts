// `slotflip agent --config DEVICE.json`: the device daemon. SIGHUP reloads the config (an
// invalid one is refused and the old one kept); SIGTERM/SIGINT stop it cleanly.

import type { Command } from '../commands.js';
import { parse, helpText } from '../args.js';
import { DEFAULT_DEVICE_CONFIG } from '../device-options.js';
import { loadDeviceConfig } from '../../config/device.js';
import { Agent } from '../../agent/agent.js';
import { supervisedWorker } from '../../agent/worker-host.js';
import { commandReboot } from '../../agent/reboot.js';
import { realFs } from '../../platform/fs.js';
import { errorCode, errorMessage } from '../../errors.js';

const options = {
  config: { type: 'string', short: 'c', arg: 'DEVICE.json', help: `device config (default ${DEFAULT_DEVICE_CONFIG})` },
} as const;
const USAGE = 'slotflip agent [--config DEVICE.json]';

export const command: Command = {
  summary: 'run the device agent (download, install, trial boot, worker supervision)',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    const file = args.values.config ?? io.env['SLOTFLIP_CONFIG'] ?? DEFAULT_DEVICE_CONFIG;
    const config = loadDeviceConfig(file);
    const log = (l: string): void => void io.err.write(`${new Date().toISOString()} ${config.deviceId} ${l}\n`);
    const agent = new Agent(config, {
      reboot: commandReboot(config.rebootCommand, log),
      worker: (w) => supervisedWorker(w, { dataDir: config.dataDir, fs: realFs, log }),
      log,
    });
    await agent.start();
    return new Promise<number>((resolve) => {
      process.on('SIGHUP', () => {
        try {
          void agent.reload(loadDeviceConfig(file));
        } catch (err) {
          log(`config reload refused, keeping the old one: ${errorCode(err)} ${errorMessage(err)}`);
        }
      });
      const stop = (): void => {
        log('stopping');
        agent.stop().then(
          () => resolve(0),
          (err) => {
            log(`stop failed: ${errorMessage(err)}`);
            resolve(3);
          },
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
