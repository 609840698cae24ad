// The VM runner: starts a board's guest under QEMU (U-Boot as -bios on ARM, the first-stage
// kernel + initramfs on MIPS), captures the serial console to a log that tests wait on, types
// shell commands into it, cuts the power (SIGKILL) and counts resets from the console.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardProfile } from '../src/board/profile.js';
import { QemuError } from './errors.js';
import { repoRoot } from './deps.js';

export interface VmOptions {
  profile: BoardProfile;
  disk: string;
  /** First-stage boards: what QEMU loads instead of a bootloader. */
  kernel?: string;
  initrd?: string;
  /** U-Boot's env flash (BaseImage.flash), attached read-only as pflash unit qemu.firmwareEnv.unit. */
  flash?: string;
  /** Host port of the MQTT broker; the guest reaches it at 10.0.2.100:1883 (its only way out). */
  brokerPort?: number;
  /** Overrides the profile's memory (e.g. '128M'). */
  memory?: string;
  /** Console log file (appended); the log is also kept in memory. */
  logFile?: string;
  /** Exit QEMU on a guest reset instead of rebooting (handy to stop at the first reset). */
  noReboot?: boolean;
  extraArgs?: string[];
}

/** Where the guest sees the broker. */
export const GUEST_BROKER = { host: '10.0.2.100', port: 1883 };


/** The QEMU command line for a board (exported for docs and debugging). */
export function qemuArgs(o: VmOptions): { cmd: string; args: string[] } {
  const q = o.profile.qemu;
  if (!q) throw new QemuError(`board ${o.profile.name} has no qemu block`);
  const args = ['-M', q.machine, '-cpu', q.cpu, '-m', o.memory ?? q.memory, '-nodefaults', '-display', 'none', '-monitor', 'none'];
  args.push('-chardev', 'stdio,id=con0,signal=off', '-serial', 'chardev:con0');
  if (q.bios) {
    args.push('-bios', q.bios);
    if (o.flash && q.firmwareEnv) args.push('-drive', `if=pflash,unit=${q.firmwareEnv.unit},format=raw,readonly=on,file=${o.flash}`);
  } else {
    if (!o.kernel || !o.initrd) throw new QemuError(`board ${o.profile.name} boots a first stage: give kernel and initrd`);
    args.push('-kernel', o.kernel, '-initrd', o.initrd, '-append', `console=${o.profile.console ?? 'ttyS0'} panic=5`);
  }
  if (q.drive === 'virtio') args.push('-drive', `if=none,file=${o.disk},format=raw,id=d0,cache=writeback`, '-device', 'virtio-blk-pci,drive=d0');
  else args.push('-drive', `if=ide,file=${o.disk},format=raw,cache=writeback`);
  // restrict=on: the guest can reach nothing but the forwarded broker.
  const bridge = path.join(repoRoot(), 'qemu', 'guestfwd-bridge.mjs');
  let netdev = 'user,id=n0,restrict=on';
  if (o.brokerPort) netdev += `,guestfwd=tcp:${GUEST_BROKER.host}:${GUEST_BROKER.port}-cmd:${process.execPath} ${bridge} ${o.brokerPort}`;
  args.push('-netdev', netdev, '-device', `${q.nic},netdev=n0,romfile=`);
  if (q.watchdogDevice) args.push('-device', q.watchdogDevice);
  if (o.noReboot) args.push('-no-reboot');
  args.push(...(o.extraArgs ?? []));
  return { cmd: q.system, args };
}

export interface Match {
  match: RegExpExecArray;
  /** Milliseconds since the VM started. */
  atMs: number;
}

export class Vm {
  readonly started = Date.now();
  private text = '';
  private cursor = 0;
  private waiters = new Set<() => void>();
  private seq = 0;
  private readonly log: fs.WriteStream | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;
  private readonly resetRe: RegExp;

  private constructor(
    readonly options: VmOptions,
    private readonly child: ChildProcess,
  ) {
    this.resetRe = new RegExp(options.profile.qemu!.resetBanner, 'gm');
    if (options.logFile) {
      fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
      this.log = fs.createWriteStream(options.logFile, { flags: 'a' });
    }
    const onData = (b: Buffer): void => {
      const s = b.toString('latin1').replace(/\r/g, '');
      this.text += s;
      this.log?.write(s);
      for (const w of [...this.waiters]) w();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.stdin!.on('error', () => {}); // a dead guest's console: exited says why
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.done = true;
        this.text += `\n[qemu exited: ${signal ?? code}]\n`;
        this.log?.end();
        for (const w of [...this.waiters]) w();
        resolve({ code, signal });
      });
    });
  }

  static start(o: VmOptions): Vm {
    const { cmd, args } = qemuArgs(o);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const vm = new Vm(o, child);
    child.on('error', (cause) => {
      vm.text += `\n[cannot start ${cmd}: ${cause.message}]\n`;
    });
    return vm;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  /** The whole console output so far (\r removed). */
  get console(): string {
    return this.text;
  }

  /** How many times the board came back to its bootloader (or first stage) after the first boot. */
  get resets(): number {
    return Math.max(0, (this.text.match(this.resetRe)?.length ?? 0) - 1);
  }

  /** Moves the search cursor to the end of the output (later waits see only new output). */
  mark(): number {
    this.cursor = this.text.length;
    return this.cursor;
  }

  /**
   * Waits until `re` matches the output after the cursor (or `from`), then moves the cursor past
   * the match. Rejects on timeout or when QEMU exits first, with the log's tail in the message.
   */
  waitFor(re: RegExp, timeoutMs: number, opts: { from?: number } = {}): Promise<Match> {
    const start = opts.from ?? this.cursor;
    const flags = re.flags.includes('g') ? re.flags : re.flags + 'g';
    const rx = new RegExp(re.source, flags);
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        rx.lastIndex = start;
        const m = rx.exec(this.text);
        if (m) {
          finish();
          this.cursor = m.index + m[0].length;
          resolve({ match: m, atMs: Date.now() - this.started });
          return true;
        }
        if (this.done) {
          finish();
          reject(new QemuError(`${this.options.profile.name}: QEMU exited before ${re} appeared\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new QemuError(`${this.options.profile.name}: ${re} did not appear within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      check();
    });
  }

  /** Types a line on the serial console. */
  send(line: string): void {
    this.child.stdin!.write(line + '\n');
  }

  /**
   * Runs a shell command on the console shell (the guest must be at its prompt) and returns its
   * output and exit status.
   */
  async sh(command: string, timeoutMs = 30_000): Promise<{ code: number; output: string }> {
    const id = `SFDONE${++this.seq}x`;
    this.mark();
    const from = this.text.length;
    this.send(`${command}; echo "${id}=$?"`);
    // The newline: output arrives in pieces, and "=1" may be the start of "=127".
    const m = await this.waitFor(new RegExp(`^${id}=(\\d+)\\n`, 'm'), timeoutMs);
    // Drop the echoed command line (and the prompt before it).
    const output = this.text
      .slice(from, m.match.index)
      .split('\n')
      .filter((l) => !l.includes(`${id}=$?`))
      .join('\n');
    return { code: Number(m.match[1]), output };
  }

  /** Power cut: SIGKILL, no flush of anything the guest had not written. */
  async kill(): Promise<void> {
    if (!this.done) this.child.kill('SIGKILL');
    await this.exited;
  }

  tail(lines = 30): string {
    return this.text.split('\n').slice(-lines).join('\n');
  }
}
