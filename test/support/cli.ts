// Runs the `slotflip` command in this process (through main(), as bin.ts does) and returns
// its exit code and what it printed.

import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}, stdin?: Buffer): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d) => (o += d));
  err.on('data', (d) => (e += d));
  const input = new PassThrough();
  input.end(stdin);
  const code = await main(argv, { out, err, stdin: input, env });
  return { code, out: o, err: e };
}
