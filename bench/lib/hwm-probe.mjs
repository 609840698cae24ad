// Loaded with `node --import` into a measured process: when it exits, writes its VmHWM (peak
// resident set, kB, from /proc/self/status) to $BENCH_HWM_FILE. Reading it at exit catches a
// peak that polling from outside could miss.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.BENCH_HWM_FILE;
if (out) {
  process.on('exit', () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    writeFileSync(out, m ? m[1] : '');
  });
}
