// The executable: wires process streams into main(). Bundled to dist/slotflip.mjs.

import { main, EXIT_INTERNAL } from './main.js';
import { errorMessage } from '../errors.js';

let settled = false;
// A command whose promise never settles would otherwise end the process with exit code 0.
process.on('beforeExit', () => {
  if (!settled) {
    process.stderr.write('error SF_ERR_INTERNAL: the command stopped without finishing\n');
    process.exitCode = EXIT_INTERNAL;
    settled = true;
  }
});
main(process.argv.slice(2), { out: process.stdout, err: process.stderr, stdin: process.stdin, env: process.env }).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (err: unknown) => {
    settled = true;
    process.stderr.write(`error SF_ERR_INTERNAL: ${errorMessage(err)}\n`);
    process.exitCode = EXIT_INTERNAL;
  },
);
