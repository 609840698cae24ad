// The hardware watchdog, fed by the agent: once the agent opens the device the board resets
// unless a keep-alive arrives within the driver's timeout, so an agent that hangs or dies (on a
// trial boot: before it could commit or roll back) ends in a reset, which the bootloader counts
// toward its fallback. A deliberate stop writes the magic 'V' first, which disarms the timer.

import { constants, promises as fsp } from 'node:fs';
import { errorMessage, IoError } from '../errors.js';

/** What the feeder needs of an opened device: plain write(2), never pwrite (watchdogs are not seekable). */
export interface WatchdogFile {
  write(data: Uint8Array): Promise<unknown>;
  close(): Promise<void>;
}

export type WatchdogOpener = (device: string) => Promise<WatchdogFile>;

/** O_WRONLY without O_CREAT: a missing device must fail, not become a regular file. */
export const openWatchdogDevice: WatchdogOpener = async (device) => {
  const fh = await fsp.open(device, constants.O_WRONLY);
  return { write: (data) => fh.write(data, 0, data.length, null), close: () => fh.close() };
};

const KEEPALIVE = Buffer.from([0]);
const MAGIC_CLOSE = Buffer.from('V');

export class HardwareWatchdog {
  /** Keep-alives written so far. */
  fed = 0;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: WatchdogFile,
    readonly device: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Opens the device (which arms it on most drivers) and feeds it every `intervalMs`. */
  static async start(device: string, intervalMs: number, log: (line: string) => void, open: WatchdogOpener = openWatchdogDevice): Promise<HardwareWatchdog> {
    let file: WatchdogFile;
    try {
      file = await open(device);
    } catch (cause) {
      throw new IoError(`cannot open the hardware watchdog ${device}`, { cause, details: { device } });
    }
    const w = new HardwareWatchdog(file, device, log);
    w.feed();
    w.timer = setInterval(() => w.feed(), intervalMs);
    w.timer.unref();
    return w;
  }

  private feed(): void {
    this.writing = this.writing.then(() =>
      this.file.write(KEEPALIVE).then(
        () => {
          this.fed++;
          if (this.failing) this.log(`hardware watchdog ${this.device}: feeding again`);
          this.failing = false;
        },
        (err: unknown) => {
          // Logged once per run of failures; the next tick tries again before the timeout.
          if (!this.failing) this.log(`hardware watchdog ${this.device} not fed: ${errorMessage(err)}`);
          this.failing = true;
        },
      ),
    );
  }

  /** Disarms (magic close) and closes: for a deliberate stop only, never for a failure. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    try {
      await this.file.write(MAGIC_CLOSE);
    } catch (err) {
      this.log(`hardware watchdog ${this.device}: magic close failed, the board may reset: ${errorMessage(err)}`);
    }
    await this.file.close();
  }
}
