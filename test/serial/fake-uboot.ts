// A scripted stand-in for U-Boot's console, for faults the real one under QEMU cannot be made
// to show (a corrupted load, a failing write). It echoes typing, handles Ctrl-C, `;` and `$?`,
// and knows the handful of commands the serial flasher uses, over an in-memory disk.
import type { Console } from '../../src/serial/console.js';
import { crc32 } from '../../src/crypto/crc.js';
import { receive } from './receiver.js';

export interface FakeUbootOptions {
  /** Print a banner and wait in the autoboot countdown (default); false: silent, at a prompt. */
  autoboot?: boolean;
  disk: Buffer;
  partitions: Array<{ start: number; blocks: number }>;
  corruptLoad?: boolean;
  failWrite?: boolean;
}

export interface FakeUboot {
  commands: string[];
  done: Promise<void>;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

export function startFakeUboot(con: Console, opts: FakeUbootOptions): FakeUboot {
  const commands: string[] = [];
  const memory = new Map<number, Buffer>();
  const vars = new Map<string, string>();
  const out = (s: string): Promise<void> => con.write(s.replace(/\n/g, '\r\n'));

  async function exec(cmd: string): Promise<number> {
    commands.push(cmd);
    const a = cmd.split(/\s+/);
    const num = (s: string | undefined): number => parseInt(s ?? '', 16);
    if (a[0] === 'true' || cmd === 'virtio scan') return 0;
    if (a[0] === 'echo') {
      await out(`${a.slice(1).join(' ').replace(/\$\{(\w+)\}/g, (_, v: string) => vars.get(v) ?? '')}\n`);
      return 0;
    }
    if (a[0] === 'part' && (a[1] === 'start' || a[1] === 'size')) {
      const p = opts.partitions[Number(a[4]) - 1];
      if (!p) return await out(`** Invalid partition ${a[4]} **\n`), 1;
      vars.set(a[5]!, (a[1] === 'start' ? p.start : p.blocks).toString(16));
      return 0;
    }
    if (a[0] === 'loady') {
      await out(`## Ready for binary (ymodem) download to 0x${hex8(num(a[1]))} at 115200 bps...\n`);
      const got = await receive(con, 'uboot');
      if (opts.corruptLoad) got.data[got.data.length >> 1]! ^= 0xff;
      memory.set(num(a[1]), got.data);
      await out(`## Total Size      = 0x${hex8(got.data.length)} = ${got.data.length} Bytes\n`);
      return 0;
    }
    if (a[0] === 'crc32') {
      const at = num(a[1]);
      const size = num(a[2]);
      await out(`crc32 for ${hex8(at)} ... ${hex8(at + size - 1)} ==> ${hex8(crc32((memory.get(at) ?? Buffer.alloc(0)).subarray(0, size)))}\n`);
      return 0;
    }
    if (a[0] === 'virtio' && (a[1] === 'write' || a[1] === 'read')) {
      const [addr, lba, count] = [num(a[2]), num(a[3]), num(a[4])];
      if (a[1] === 'write') {
        if (opts.failWrite) return await out(`\nvirtio write: device 0 block # ${lba}, count ${count} ... 0 blocks written: ERROR\n`), 1;
        memory.get(addr)!.copy(opts.disk, lba * 512, 0, count * 512);
      } else {
        memory.set(addr, Buffer.from(opts.disk.subarray(lba * 512, (lba + count) * 512)));
      }
      await out(`\nvirtio ${a[1]}: device 0 block # ${lba}, count ${count} ... ${count} blocks ${a[1] === 'write' ? 'written' : 'read'}: OK\n`);
      return 0;
    }
    await out(`Unknown command '${a[0]}' - try 'help'\n`);
    return 1;
  }

  async function line(text: string): Promise<void> {
    let status = 0;
    for (const part of text.split(';')) {
      const cmd = part.trim().replace(/\$\?/g, String(status));
      if (cmd) status = await exec(cmd);
    }
  }

  const done = (async () => {
    if (opts.autoboot ?? true) {
      await out('\nU-Boot 2023.01 (fake)\n\nDRAM:  256 MiB\nHit any key to stop autoboot:  2 ');
      await con.readByte(60000);
      await out('\x08\x08\x08 0 \n=> ');
    }
    let typed = '';
    for (;;) {
      let b: number;
      try {
        b = await con.readByte(60000);
      } catch {
        return; // the host closed the line
      }
      if (b === 0x03) {
        typed = '';
        await out('<INTERRUPT>\n=> ');
      } else if (b === 0x0d || b === 0x0a) {
        await out('\n');
        await line(typed);
        typed = '';
        await out('=> ');
      } else {
        typed += String.fromCharCode(b);
        await con.write(Buffer.from([b]));
      }
    }
  })();
  return { commands, done };
}
