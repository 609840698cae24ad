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
import { notifyReady, notifyStopping, notifyWatchdog, watchdogIntervalMs } from '../../service/sd-notify.js';
import { HardwareWatchdog } from '../../agent/hw-watchdog.js';

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
      worker: (w, appDir) => supervisedWorker(w, { dataDir: config.dataDir, fs: realFs, appDir, log }),
      log,
    });
    // Signal handlers go in before start(): a SIGHUP while the agent starts must not kill it.
    let started = false;
    let stopRequested = false;
    process.on('SIGHUP', () => {
      try {
        const next = loadDeviceConfig(file);
        if (started) void agent.reload(next);
        else log('config reload requested during start; the config read at start stays');
      } catch (err) {
        log(`config reload refused, keeping the old one: ${errorCode(err)} ${errorMessage(err)}`);
      }
    });
    // A device without broker or worker has nothing else keeping the event loop alive.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let resolveStop!: (code: number) => void;
    const stopped = new Promise<number>((resolve) => (resolveStop = resolve)).finally(() => clearInterval(keepAlive));
    let watchdog: NodeJS.Timeout | undefined;
    let hardware: HardwareWatchdog | undefined;
    const stop = (): void => {
      if (stopRequested) return;
      stopRequested = true;
      clearInterval(watchdog);
      void notifyStopping().catch((err) => log(`systemd stopping not sent: ${errorMessage(err)}`));
      log('stopping');
      agent.stop().then(
        // Disarmed only once the agent stopped cleanly; a failed stop leaves it to reset the board.
        () => (hardware ? hardware.stop() : undefined),
      ).then(
        () => resolveStop(0),
        (err) => {
          log(`stop failed: ${errorMessage(err)}`);
          resolveStop(3);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Armed before start: from here on, a blocked or dead agent ends in a board reset.
    if (config.watchdog) {
      try {
        hardware = await HardwareWatchdog.start(config.watchdog.device, config.watchdog.intervalMs, log);
        log(`feeding the hardware watchdog ${config.watchdog.device} every ${config.watchdog.intervalMs} ms`);
      } catch (err) {
        log(`${errorCode(err)} ${errorMessage(err)}; running without it`);
      }
    }
    await agent.start();
    started = true;
    log('agent started');
    // Under systemd (Type=notify): readiness now, keep-alives at the interval it asked for.
    void notifyReady().catch((err) => log(`systemd readiness not sent: ${errorCode(err)} ${errorMessage(err)}`));
    const every = watchdogIntervalMs();
    if (every) watchdog = setInterval(() => void notifyWatchdog().catch((err) => log(`systemd watchdog not fed: ${errorMessage(err)}`)), every);
    return stopped;
  },
};
