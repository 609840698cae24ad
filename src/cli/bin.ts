// The executable: wires process streams into main(). Bundled to dist/slotflip.mjs.

import { main, EXIT_INTERNAL } from './main.js';
import { errorMessage } from '../errors.js';

main(process.argv.slice(2), { out: process.stdout, err: process.stderr, stdin: process.stdin, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error SF_ERR_INTERNAL: ${errorMessage(err)}\n`);
    process.exitCode = EXIT_INTERNAL;
  },
);
