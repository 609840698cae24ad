// One emulated device running the real agent for the update scenarios: starts and stops its
// guest, waits on the agent's retained status, and at every stop checks the boots the console
// shows against the boot simulator and the env fw_printenv reads against the agent's report.
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';
import type { QemuBoard } from '../../../qemu/board.js';
import type { Vm } from '../../../qemu/vm.js';
import { partitionOf } from '../../../qemu/layout.js';
import type { StatusReport } from '../../../src/agent/status.js';
import { checkBootsAgainstSimulator, checkEnvAgainstStatus } from './boots.js';
import { latest, type Operator } from './operator.js';

export class Device {
  vm: Vm | undefined;
  /** Boots checked against decideBoot and stops checked against fw_printenv, over the run. */
  bootsChecked = 0;
  envChecks = 0;

  constructor(
    readonly board: QemuBoard,
    readonly op: Operator,
  ) {}

  get slotVariable(): string {
    return this.board.profile.bootloader.slotVariable;
  }

  /** Powers the guest on; status reports from before are forgotten. */
  start(name: string, memory?: string): Vm {
    this.op.status.latest.delete(this.op.deviceId);
    this.vm = this.board.start({ name, brokerPort: this.op.broker.port, ...(memory ? { memory } : {}) });
    return this.vm;
  }

  waitStatus(pred: (s: StatusReport) => boolean, ms: number, what: string): Promise<StatusReport> {
    return this.op.status
      .waitFor((m) => {
        const s = m.get(this.op.deviceId);
        return !!s && pred(s);
      }, ms, what)
      .then(() => latest(this.op)!);
  }

  /** The agent is up and idle (after a start). */
  online(ms: number, slot?: 'a' | 'b'): Promise<StatusReport> {
    return this.waitStatus((s) => s.online && s.state === 'idle' && (!slot || s.slot === slot), ms, `the agent online and idle${slot ? ` on slot ${slot}` : ''}`);
  }

  /** A running guest with the agent online (starts one if the last scenario left none). */
  async ensureRunning(name: string, ms: number): Promise<StatusReport> {
    if (this.vm?.running) return this.online(ms);
    this.start(name);
    return this.online(ms);
  }

  /**
   * Stops the guest (poweroff, or a kill when `cut`), then checks every boot of this run against
   * decideBoot and, unless the agent was cut mid-update, the env on the disk against its status.
   */
  async stop(o: { cut?: boolean; checkEnv?: boolean } = {}): Promise<Record<string, string>> {
    const vm = this.vm;
    if (!vm) throw new Error('no guest running');
    const status = latest(this.op);
    if (o.cut) await vm.kill();
    else {
      vm.send('poweroff');
      const t = setTimeout(() => void vm.kill(), 60_000);
      await vm.exited;
      clearTimeout(t);
    }
    this.vm = undefined;
    this.bootsChecked += checkBootsAgainstSimulator(vm.console, this.slotVariable, this.board.profile.bootloader.bootlimit);
    const env = await this.board.env();
    if (o.checkEnv ?? !o.cut) {
      checkEnvAgainstStatus(env, this.slotVariable, status);
      this.envChecks++;
    }
    return env;
  }

  /** SHA-256 of a slot's whole partition in the disk file (nothing written → same digest). */
  slotDigest(slot: 'a' | 'b'): string {
    const part = partitionOf(this.board.profile, slot);
    const fd = fs.openSync(this.board.image.disk, 'r');
    try {
      const h = crypto.createHash('sha256');
      const buf = Buffer.alloc(4 << 20);
      for (let off = 0; off < part.size; off += buf.length) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, part.size - off), part.offset + off);
        h.update(buf.subarray(0, n));
      }
      return h.digest('hex');
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Console loop in the guest printing the agent's peak RSS (VmHWM, kB) every 3 s until reboot. */
export const RSS_LOOP =
  `(while :; do for p in $(pidof node); do grep -q slotflip.mjs /proc/$p/cmdline 2>/dev/null && ` +
  `echo "SF-RSS $(sed -n 's/^VmHWM:[^0-9]*\\([0-9]*\\).*/\\1/p' /proc/$p/status)"; done; sleep 3; done) &`;

export function peakRssKiB(consoleText: string): number | undefined {
  const all = [...consoleText.matchAll(/^SF-RSS (\d+)$/gm)].map((m) => Number(m[1]));
  return all.length ? Math.max(...all) : undefined;
}
