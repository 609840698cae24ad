// `npm run fuzz -- [--runs N] [--seed S] [--grep PATTERN] [FILTER...]`: the property-based
// fuzz tests of test/fuzz with N times the cases `npm test` runs (default 20), all under one
// seed that is printed first, so a failure replays with `--seed S` (and the same --runs).
// Ends with a table of cases run per property. See docs/fuzzing.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '20' },
    seed: { type: 'string' },
    grep: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: node scripts/fuzz.mjs [--runs N] [--seed S] [--grep TEST-NAME-PATTERN] [FILE-FILTER...]');
  process.exit(0);
}
const runs = Number(values.runs);
if (!(runs > 0)) {
  console.error(`--runs wants a positive number, not ${values.runs}`);
  process.exit(2);
}
const seed = values.seed !== undefined ? Number(values.seed) : (Math.random() * 2 ** 31) | 0;
if (!Number.isInteger(seed)) {
  console.error(`--seed wants an integer, not ${values.seed}`);
  process.exit(2);
}

let files = readdirSync(join('test', 'fuzz'))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join('test', 'fuzz', f))
  .sort();
if (positionals.length) files = files.filter((f) => positionals.some((p) => f.includes(p)));
if (!files.length) {
  console.error('no fuzz test file matched');
  process.exit(1);
}

const tmp = mkdtempSync(join(tmpdir(), 'slotflip-fuzz-report-'));
const reportFile = join(tmp, 'report.jsonl');
console.log(`fuzz: seed ${seed}, ${runs}x the unit-test cases, ${files.length} files`);
const started = Date.now();
const args = ['--import', 'tsx', '--test', `--test-concurrency=${process.env.SLOTFLIP_TEST_CONCURRENCY ?? '2'}`, '--test-reporter=spec'];
if (values.grep) args.push(`--test-name-pattern=${values.grep}`);
const r = spawnSync(process.execPath, [...args, ...files], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_SEED: String(seed), FUZZ_REPORT: reportFile, SLOTFLIP_TEST_MODE: 'fuzz' },
});

let rows = [];
try {
  rows = readFileSync(reportFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
} catch {
  // No report: every file failed before its first property.
}
rmSync(tmp, { recursive: true, force: true });
const width = Math.max(20, ...rows.map((x) => `${x.file} ${x.property}`.length));
console.log(`\n${'property'.padEnd(width)}  ${'cases'.padStart(9)}  ${'ms'.padStart(8)}`);
for (const x of rows) console.log(`${`${x.file} ${x.property}`.padEnd(width)}  ${String(x.cases).padStart(9)}  ${String(x.ms).padStart(8)}${x.failed ? '  FAILED' : ''}`);
const total = rows.reduce((n, x) => n + x.cases, 0);
console.log(`${'total'.padEnd(width)}  ${String(total).padStart(9)}  ${String(Date.now() - started).padStart(8)}`);
console.log(`seed ${seed}; replay: node scripts/fuzz.mjs --seed ${seed} --runs ${runs}${positionals.length ? ` ${positionals.join(' ')}` : ''}`);
process.exit(r.status ?? 1);
