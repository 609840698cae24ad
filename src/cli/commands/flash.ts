// `slotflip flash IMAGE --to FILE|BLOCKDEV`: write a base image, skipping holes, and read it back.
// `slotflip flash PAYLOAD --serial PORT --board NAME --target ...`: put a small payload on a
// board's storage through its U-Boot console (YMODEM, crc32, block write, read-back).

import * as path from 'node:path';
import type { Command, CliIo } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { createProgress, formatBytes, type Progress } from '../progress.js';
import { UsageError } from '../../errors.js';
import { realFs } from '../../platform/fs.js';
import { flashImage, type FlashPhase } from '../../flash/write.js';
import { listProfiles, loadProfile } from '../../board/profile.js';

const options = {
  to: { type: 'string', arg: 'FILE|BLOCKDEV', help: 'write the image to this file or whole block device' },
  bmap: { type: 'boolean', help: 'require a bmaptool .bmap next to the image (found by default when present)' },
  'bmap-file': { type: 'string', arg: 'FILE', help: 'use this .bmap file' },
  'no-bmap': { type: 'boolean', help: 'ignore any .bmap; find holes by scanning for zero blocks' },
  'no-verify': { type: 'boolean', help: 'skip the read-back check' },
  'assume-zeroed': { type: 'boolean', help: 'the block device already reads as zero: skip zero blocks there too' },
  serial: { type: 'string', arg: 'PORT', help: 'flash over a U-Boot console: /dev/ttyUSB0, a pty, unix:PATH or tcp:HOST:PORT' },
  board: { type: 'string', arg: 'NAME', help: 'board (serial mode): qemu-arm64-virt, qemu-armhf-virt, rpi-arm64-uboot' },
  target: { type: 'string', arg: 'WHERE', help: 'serial mode: env, partition:N or offset:BYTES' },
  baud: { type: 'string', arg: 'N', default: '115200', help: 'serial baud rate' },
  'at-prompt': { type: 'boolean', help: 'serial mode: the board already sits at its U-Boot prompt' },
  'show-console': { type: 'boolean', help: "serial mode: copy the board's console output to stderr" },
  'no-progress': { type: 'boolean', help: 'no progress bar' },
  json: { type: 'boolean', help: 'print the report as JSON' },
} as const;

const USAGE =
  'slotflip flash IMAGE --to FILE|BLOCKDEV [--bmap|--bmap-file F|--no-bmap] [--no-verify] [--assume-zeroed]\n' +
  '       slotflip flash PAYLOAD --serial PORT --board NAME --target env|partition:N|offset:BYTES [--baud 115200]';

type Args = ReturnType<typeof parse<typeof options>>['values'];

function bars(io: CliIo, enabled: boolean): { update(phase: FlashPhase | 'send', done: number, total: number): void; finish(): void } {
  const open = new Map<string, Progress>();
  return {
    update(phase, done, total) {
      let bar = open.get(phase);
      if (!bar) {
        for (const b of open.values()) b.finish();
        bar = createProgress(io.err, phase.padEnd(6), total, enabled);
        open.set(phase, bar);
      }
      bar.update(done);
    },
    finish() {
      const last = [...open.values()].at(-1);
      last?.finish();
    },
  };
}

async function toFile(image: string, a: Args, io: CliIo): Promise<number> {
  if (a.bmap && a['no-bmap']) throw new UsageError('--bmap and --no-bmap contradict each other');
  const bmap = a['bmap-file'] ?? (a['no-bmap'] ? 'none' : a.bmap ? 'require' : 'auto');
  const progress = bars(io, !a.json && !a['no-progress']);
  const r = await flashImage({
    fs: realFs,
    image,
    target: a.to!,
    bmap,
    verify: !a['no-verify'],
    assumeZeroed: a['assume-zeroed'],
    onProgress: (phase, done, total) => progress.update(phase, done, total),
  });
  progress.finish();
  if (a.json) {
    io.out.write(JSON.stringify({ ok: true, ...r }) + '\n');
    return 0;
  }
  const how = r.method === 'bmap' ? `bmap ${path.basename(r.bmapFile!)}` : `zero-block scan (${r.blockSize} B blocks)`;
  io.out.write(
    `flashed ${image} to ${r.target} (${r.targetKind}), holes from ${how}\n` +
      `  ${formatBytes(r.dataBytes)} data in ${r.ranges} ranges, ${formatBytes(r.zeroBytesWritten)} zeros written, ${formatBytes(r.skippedBytes)} skipped, ${r.writeSeconds.toFixed(1)} s\n` +
      (r.verifiedBytes || !a['no-verify'] ? `  verified ${formatBytes(r.verifiedBytes)} by read-back (SHA-256 per range) in ${r.verifySeconds.toFixed(1)} s\n` : '  not verified (--no-verify)\n'),
  );
  return 0;
}

async function overSerial(payloadFile: string, a: Args, io: CliIo): Promise<number> {
  const boardName = required(a.board, '--board');
  const target = required(a.target, '--target');
  const baud = Number(a.baud);
  if (!Number.isInteger(baud) || baud <= 0) throw new UsageError(`--baud must be a positive integer, not ${a.baud}`);
  // The serial modules pull in serialport; load them only on this path.
  const [{ openLink }, { Console }, { serialBoard }, { serialFlash, parseSerialTarget }] = await Promise.all([
    import('../../serial/transport.js'),
    import('../../serial/console.js'),
    import('../../serial/boards.js'),
    import('../../serial/serial-flash.js'),
  ]);
  const profile = listProfiles().includes(boardName) ? loadProfile(boardName) : undefined;
  const board = serialBoard(boardName, profile);
  const where = parseSerialTarget(target);
  const payload = await realFs.readFile(payloadFile);
  const link = await openLink(a.serial!, { baudRate: baud });
  const con = new Console(link, a['show-console'] ? { tap: (c) => io.err.write(c) } : {});
  const progress = bars(io, !a.json && !a['no-progress'] && !a['show-console']);
  let report;
  try {
    report = await serialFlash({
      console: con,
      board,
      payload,
      name: path.basename(payloadFile),
      target: where,
      stopAutoboot: !a['at-prompt'],
      onProgress: (sent, total) => progress.update('send', sent, total),
      log: a.json ? undefined : (line) => io.err.write(`${line}\n`),
    });
  } finally {
    await con.close();
  }
  progress.finish();
  if (a.json) {
    io.out.write(JSON.stringify({ ok: true, board: board.name, target, ...report }) + '\n');
    return 0;
  }
  const { iface, dev } = board.storage;
  io.out.write(
    `flashed ${payloadFile} (${formatBytes(report.bytes)}) to ${board.name} ${iface} ${dev} ${target} over ${a.serial}\n` +
      `  crc32 ${report.crc32} matched after loady and after read-back of ${report.writes.map((w) => `block ${w.lba}+${w.blocks}`).join(', ')}; ` +
      `YMODEM ${report.ymodemSeconds.toFixed(1)} s (${report.ymodemResent} blocks resent), total ${report.totalSeconds.toFixed(1)} s\n`,
  );
  return 0;
}

export const command: Command = {
  summary: 'write a base image to a file or block device, or a payload over a U-Boot serial console',
  async run(argv, io) {
    const args = parse(argv, options);
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    if (args.positionals.length !== 1) throw new UsageError(`expected one image or payload file\nusage: ${USAGE}`);
    const file = args.positionals[0]!;
    const a = args.values;
    if (a.to && a.serial) throw new UsageError('--to and --serial are two different ways to flash; give one');
    if (a.to) return toFile(file, a, io);
    if (a.serial) return overSerial(file, a, io);
    throw new UsageError(`give --to FILE|BLOCKDEV or --serial PORT\nusage: ${USAGE}`);
  },
};
