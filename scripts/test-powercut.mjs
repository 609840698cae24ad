// `npm run test:powercut -- [--json FILE] [--flow NAME] [--modes lose,torn] [--only K] [--single-env]`:
// cuts power at every disk-changing call of each install flow and checks the device stays
// bootable and the update resumable. The sweep itself lives in test/powercut (docs/powercut.md).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../test/powercut/main.ts', import.meta.url));
const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
