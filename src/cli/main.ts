// Entry point of the `slotflip` command: picks a command from the table and maps errors to
// `error SF_ERR_...: message` on stderr (or JSON with --json) and a non-zero exit code.

import { COMMANDS, SUMMARIES, type CliIo } from './commands.js';
import { SlotflipError, errorCode, errorMessage } from '../errors.js';

export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;

function usage(): string {
  const lines = ['usage: slotflip <command> [options]', '', 'commands:'];
  const names = Object.keys(COMMANDS).sort();
  const width = Math.max(...names.map((n) => n.length));
  return lines.join('\n') + '\n' + names.map((c) => `  ${c.padEnd(width)}  ${SUMMARIES[c] ?? ''}`.trimEnd()).join('\n') + '\n\nslotflip <command> --help for a command\'s options\n';
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out.write(usage());
    return name ? 0 : EXIT_USAGE;
  }
  if (name === '--version') {
    io.out.write(`${process.env['SLOTFLIP_VERSION'] ?? 'slotflip'}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.err.write(`error SF_ERR_USAGE: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  const wantsJson = rest.includes('--json');
  try {
    const { command } = await load();
    return await command.run(rest, io);
  } catch (err) {
    const code = errorCode(err);
    if (wantsJson) io.out.write(JSON.stringify({ ok: false, error: { code, message: errorMessage(err) } }) + '\n');
    io.err.write(`error ${code}: ${errorMessage(err)}\n`);
    if (!(err instanceof SlotflipError) && io.env['SLOTFLIP_DEBUG']) io.err.write(`${(err as Error)?.stack ?? ''}\n`);
    if (code === 'SF_ERR_USAGE') return EXIT_USAGE;
    return err instanceof SlotflipError ? EXIT_REFUSED : EXIT_INTERNAL;
  }
}
