// The QEMU suite: `npm run test:qemu [-- --board NAME ...] [--report FILE] [--no-build] [filters]`.
// Installs the host tools when missing (apt-get, as CI does), builds the device bundle, then
// runs test/qemu/*.test.ts once per board (two boards at a time: each guest takes a core) and
// writes a JSON report of board x scenario with pass/fail and timings.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensurePackages } from './apt.mjs';

// The slowest board first, so the two parallel lanes finish close together.
const ALL_BOARDS = ['qemu-mips64el-malta', 'qemu-arm64-virt', 'qemu-armhf-virt'];
const HOST_PACKAGES = ['qemu-system-arm', 'qemu-system-mips', 'u-boot-qemu', 'u-boot-tools', 'libubootenv-tool', 'e2fsprogs', 'fdisk', 'cpio', 'kmod'];

const { values, positionals } = parseArgs({
  options: {
    board: { type: 'string', multiple: true },
    report: { type: 'string' },
    parallel: { type: 'string', default: process.env.SLOTFLIP_QEMU_PARALLEL ?? '2' },
    keep: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const boards = values.board?.length ? values.board : ALL_BOARDS;
const started = Date.now();

ensurePackages(HOST_PACKAGES, 'the QEMU suite');

// --no-build: use the dist/device/slotflip.mjs already there (while other parts are mid-edit).
const build = values['no-build'] ? { status: 0 } : spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0 || !existsSync('dist/device/slotflip.mjs')) {
  console.error('building the device bundle failed');
  process.exit(1);
}

let files = readdirSync('test/qemu').filter((f) => f.endsWith('.test.ts')).map((f) => join('test/qemu', f)).sort();
if (positionals.length) files = files.filter((f) => positionals.some((x) => f.includes(x)));
if (!files.length) {
  console.error('no QEMU test files matched');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'slotflip-qemu-run-'));
function runBoard(board) {
  const results = join(work, `${board}.jsonl`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SLOTFLIP_QEMU_BOARD: board, SLOTFLIP_QEMU_RESULTS: results, SLOTFLIP_QEMU_KEEP: values.keep ? '1' : '0', SLOTFLIP_TEST_MODE: 'qemu' },
    });
    const prefix = (chunk) => chunk.toString().split('\n').filter(Boolean).map((l) => `[${board}] ${l}\n`).join('');
    child.stdout.on('data', (c) => process.stdout.write(prefix(c)));
    child.stderr.on('data', (c) => process.stderr.write(prefix(c)));
    child.on('close', (code) => {
      const lines = existsSync(results) ? readFileSync(results, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
      resolve({ board, exitCode: code, seconds: (Date.now() - t0) / 1000, scenarios: lines });
    });
  });
}

const queue = [...boards];
const done = [];
const parallel = Math.max(1, Number(values.parallel) || 1);
await Promise.all(
  Array.from({ length: Math.min(parallel, queue.length) }, async () => {
    while (queue.length) done.push(await runBoard(queue.shift()));
  }),
);
rmSync(work, { recursive: true, force: true });

const report = {
  startedAt: new Date(started).toISOString(),
  seconds: (Date.now() - started) / 1000,
  parallel,
  boards: Object.fromEntries(
    done.map((b) => [
      b.board,
      {
        ok: b.exitCode === 0 && b.scenarios.every((s) => s.status === 'pass'),
        seconds: b.seconds,
        scenarios: Object.fromEntries(b.scenarios.map((s) => [s.scenario, { status: s.status, seconds: s.seconds, ...s.figures, ...(s.error ? { error: s.error } : {}) }])),
      },
    ]),
  ),
};
if (values.report) writeFileSync(values.report, JSON.stringify(report, null, 2) + '\n');
console.log('\nQEMU suite summary');
for (const [name, b] of Object.entries(report.boards)) {
  console.log(`  ${b.ok ? 'PASS' : 'FAIL'} ${name} (${b.seconds.toFixed(0)} s)`);
  for (const [s, r] of Object.entries(b.scenarios)) console.log(`      ${r.status.padEnd(4)} ${s} ${r.seconds.toFixed(1)} s`);
}
console.log(`total ${report.seconds.toFixed(0)} s`);
process.exit(Object.values(report.boards).every((b) => b.ok) && done.length === boards.length ? 0 : 1);
