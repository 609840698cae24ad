// Rebooting a board: run its reboot command (from the board profile or device config). On a
// real board the process is killed by the reboot; if the command fails, that is an error the
// agent reports, never a silent "carry on".

import { spawn } from 'node:child_process';
import { SlotflipError } from '../errors.js';

export function commandReboot(argv: string[], log: (l: string) => void): () => Promise<void> {
  return () =>
    new Promise<void>((resolve, reject) => {
      log(`rebooting: ${argv.join(' ')}`);
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
      child.on('error', (cause) => reject(new SlotflipError('SF_ERR_REBOOT', `cannot run ${argv[0]}`, { cause })));
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new SlotflipError('SF_ERR_REBOOT', `${argv.join(' ')} exited with ${code}`))));
    });
}
