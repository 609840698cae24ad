// Talking to U-Boot over its console: stop autoboot, get a clean prompt, run a command and
// collect its output and exit status, load a file with `loady`, and read `crc32`. Commands
// are typed in small pieces, each waited for as echo, so a board's small UART FIFO never overflows.

import { randomBytes } from 'node:crypto';
import type { Console } from './console.js';
import { UbootCommandError } from './errors.js';
import { ymodemSend, type YmodemResult } from './ymodem.js';

export interface UbootOptions {
  /** CONFIG_SYS_PROMPT; '=> ' on most boards. */
  prompt?: string;
  /** Characters typed before waiting for their echo. */
  typeChunk?: number;
  commandTimeoutMs?: number;
}

export interface CommandResult {
  output: string;
  status: number;
}

const CTRL_C = '\x03';

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Uboot {
  readonly prompt: string;
  private readonly typeChunk: number;
  private readonly commandTimeoutMs: number;
  private readonly promptRe: RegExp;

  constructor(
    readonly console: Console,
    opts: UbootOptions = {},
  ) {
    this.prompt = opts.prompt ?? '=> ';
    this.typeChunk = opts.typeChunk ?? 16;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30000;
    this.promptRe = new RegExp(`(?:^|\\n)${escapeRe(this.prompt)}`);
  }

  /**
   * Waits for "Hit any key to stop autoboot" (or a prompt, if the board is already there)
   * and interrupts it. Attaching late (the message already gone, as with a pty opened after
   * QEMU started) is covered by interrupting whenever the line has been quiet for `pokeMs`;
   * U-Boot takes a key that is already waiting when the countdown starts.
   */
  async stopAutoboot(opts: { timeoutMs?: number; pokeMs?: number } = {}): Promise<void> {
    const pokeMs = opts.pokeMs ?? 1500;
    const poke = setInterval(() => {
      if (performance.now() - this.console.lastDataAt >= pokeMs) this.console.write(CTRL_C).catch(() => {});
    }, pokeMs / 3);
    try {
      const found = await this.console.expect(
        new RegExp(`Hit any key to stop autoboot|autoboot in \\d+ seconds|\\x08\\x08\\x08 \\d |${this.promptRe.source}`),
        opts.timeoutMs ?? 60000,
        'U-Boot autoboot message or prompt',
      );
      if (!found.match[0].includes(this.prompt.trim())) await this.console.write(CTRL_C);
    } finally {
      clearInterval(poke);
    }
    await this.sync();
  }

  /** Gets a clean prompt: Ctrl-C drops any half-typed line, then a marker echo proves we are in step. */
  async sync(timeoutMs = 10000): Promise<void> {
    await this.console.write(CTRL_C);
    await this.run('true', { timeoutMs });
  }

  /** Types `line` followed by Enter, pacing by echo. */
  private async type(line: string, timeoutMs: number): Promise<void> {
    for (let i = 0; i < line.length; i += this.typeChunk) {
      const piece = line.slice(i, i + this.typeChunk);
      await this.console.write(piece);
      await this.console.expect(piece, timeoutMs, `echo of "${piece}"`);
    }
    await this.console.write('\r');
  }

  /**
   * Runs `command` and returns what it printed and its exit status. Needs U-Boot's hush
   * shell (`$?`): the command line ends with `echo MARK=$?`, whose output marks the end.
   */
  async run(command: string, opts: { timeoutMs?: number; allowFailure?: boolean; during?: () => Promise<void> } = {}): Promise<CommandResult> {
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    const mark = `sf${randomBytes(4).toString('hex')}`;
    const line = `${command}; echo ${mark}=$?`;
    await this.type(line, timeoutMs);
    await this.console.expect(/\r?\n/, timeoutMs, 'end of the echoed command line');
    if (opts.during) await opts.during();
    const end = await this.console.expect(new RegExp(`${mark}=(\\d+)\\r?\\n`), timeoutMs, `end of "${command}"`);
    await this.console.expect(this.prompt, timeoutMs, 'U-Boot prompt');
    const output = end.before.replace(/\r\n/g, '\n');
    const status = Number(end.match[1]);
    if (status !== 0 && !opts.allowFailure) {
      throw new UbootCommandError(`U-Boot "${command}" failed (status ${status}): ${output.trim().split('\n').slice(-3).join(' | ')}`, {
        details: { command, status, output },
      });
    }
    return { output, status };
  }

  /** `loady ADDR`, then sends `data` with YMODEM; checks U-Boot's reported size. */
  async loadYmodem(addr: number, data: Uint8Array, name: string, onProgress?: (sent: number, total: number) => void): Promise<YmodemResult> {
    let result: YmodemResult | undefined;
    const { output } = await this.run(`loady ${hex(addr)}`, {
      timeoutMs: Math.max(this.commandTimeoutMs, 60000 + data.length / 2),
      during: async () => {
        await this.console.expect(/Ready for binary \(ymodem\) download[^\n]*\n/, 10000, 'loady ready message');
        result = await ymodemSend(this.console, { name, data, onProgress });
      },
    });
    const size = /Total Size\s*=\s*0x[0-9a-fA-F]+\s*=\s*(\d+)\s*Bytes/.exec(output);
    if (!size || Number(size[1]) !== data.length) {
      throw new UbootCommandError(`loady did not report receiving ${data.length} bytes: ${output.trim()}`, { details: { output } });
    }
    return result!;
  }

  /** U-Boot's CRC-32 (the same as zlib's) over `size` bytes at `addr`. */
  async crc32(addr: number, size: number): Promise<number> {
    const { output } = await this.run(`crc32 ${hex(addr)} ${hex(size)}`);
    const m = /==>\s*([0-9a-fA-F]{8})/.exec(output);
    if (!m) throw new UbootCommandError(`cannot read crc32 output: ${output.trim()}`, { details: { output } });
    return parseInt(m[1]!, 16);
  }

  /** Reads a hex value an earlier command put in a variable (e.g. `part start ... name`). */
  async getHexVar(name: string): Promise<number> {
    const { output } = await this.run(`echo ${name}=\${${name}}`);
    const m = new RegExp(`${escapeRe(name)}=(?:0x)?([0-9a-fA-F]+)`).exec(output);
    if (!m) throw new UbootCommandError(`U-Boot variable ${name} is not set: ${output.trim()}`);
    return parseInt(m[1]!, 16);
  }
}

