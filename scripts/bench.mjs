// `npm run bench`: runs each bench file of bench/ in its own process (node --import tsx), folds
// their JSON rows into one table of figures, each beside a baseline measured in the same run.
//   npm run bench [-- --only NAME,...] [--json FILE] [--runs N] [--quick] [--sweep]
// --only takes row names (install-vs-rauc) or bench files (rauc); --quick shrinks every size
// for a smoke run (its figures are not the documented ones).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const opt = (flag) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
const quick = argv.includes('--quick');
const runs = opt('--runs');
const only = opt('--only')?.split(',').map((s) => s.trim()).filter(Boolean);
const jsonOut = opt('--json');

const runArgs = ['--runs', runs ?? (quick ? '1' : '5')];
/** What each bench file measures, in the order they run; `fold` maps its rows into the suite's. */
const STEPS = [
  { file: 'bench/install.ts', names: ['install-vs-dd'], args: [...runArgs, ...(quick ? ['--size', '64M'] : [])] },
  { file: 'bench/rauc.ts', names: ['install-vs-rauc'], args: [...runArgs, ...(quick ? ['--size', '64M'] : [])] },
  { file: 'bench/swupdate.ts', names: ['install-vs-swupdate'], args: [...runArgs, ...(quick ? ['--size', '64M'] : [])] },
  { file: 'bench/mqtt-transfer.ts', names: ['mqtt-vs-bare'], args: [...(argv.includes('--sweep') ? [] : ['--no-sweep']), ...(quick ? ['--size', '64', '--runs', '1'] : runs ? ['--runs', runs] : [])], fold: foldMqtt },
  { file: 'bench/rss.ts', names: ['rss-64m', 'rss-256m', 'rss-1g'], args: quick ? ['--sizes', '64M,256M'] : [] },
  { file: 'bench/fanout.ts', names: ['fanout-bytes', 'fanout-bytes-shared-loss', 'fanout-time'], args: quick ? ['--devices', '10'] : [] },
  { file: 'bench/app-swap.ts', names: ['app-swap-failures'], args: [] },
  { file: 'bench/agent-rss.ts', names: ['agent-rss-64m', 'agent-rss-256m'], args: quick ? ['--sizes', '64'] : [] },
];

/**
 * The transfer bench names its rows in words (and their wording changes); the suite's name
 * for its headline is short and stable: the first throughput row against the bare subscriber.
 */
function foldMqtt(rows) {
  const headline = rows.find((r) => r.name === 'mqtt-vs-bare') ?? rows.find((r) => r.unit === 'MiB/s' && /bare/i.test(r.baseline) && !/sweep/i.test(r.name));
  return rows.map((r) => (r === headline ? { ...r, name: 'mqtt-vs-bare', note: [r.name, r.note].filter(Boolean).join('; ') } : { ...r, name: r.name.startsWith('mqtt') ? r.name : `mqtt: ${r.name}` }));
}

const wanted = (step) => !only || only.some((o) => step.names.includes(o) || step.file.includes(o));
const rows = [];
const work = mkdtempSync(join(tmpdir(), 'sf-bench-suite-'));
const started = Date.now();
try {
  for (const step of STEPS.filter(wanted)) {
    const missingRow = (why) => step.names.map((name) => ({ name, value: null, unit: '', baseline: '', baselineValue: null, ratio: null, note: why }));
    if (!existsSync(step.file)) {
      console.log(`\n== ${step.file}: missing`);
      rows.push(...missingRow(`missing: ${step.file} does not exist`));
      continue;
    }
    const out = join(work, `${step.names[0]}.json`);
    console.log(`\n== ${step.file} ${step.args.join(' ')}`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', step.file, ...step.args, '--json', out], { stdio: 'inherit' });
    console.log(`== ${step.file}: exit ${r.status ?? r.signal} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (!existsSync(out)) {
      rows.push(...missingRow(`failed: ${step.file} exited ${r.status ?? r.signal} without writing its figures (see its output above)`));
      continue;
    }
    let got = JSON.parse(readFileSync(out, 'utf8'));
    if (step.fold) got = step.fold(got);
    if (r.status !== 0) got = got.map((x) => ({ ...x, note: `${x.note ? x.note + '; ' : ''}${step.file} exited ${r.status}` }));
    for (const name of step.names) if (!got.some((x) => x.name === name)) got.push(...missingRow(`missing: ${step.file} reported no ${name}`).filter((x) => x.name === name));
    rows.push(...got);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const num = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : String(x));
const table = [['name', 'value', 'unit', 'baseline', 'baseline value', 'ratio'], ...rows.map((r) => [r.name, num(r.value), r.unit, r.baseline, num(r.baselineValue), num(r.ratio)])];
const widths = table[0].map((_, i) => Math.max(...table.map((t) => t[i].length)));
const line = (t) => t.map((c, i) => (i === 1 || i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(`\nslotflip bench${quick ? ' (--quick: reduced sizes, not the documented figures)' : ''}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(line(table[0]));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const t of table.slice(1)) console.log(line(t));
const notes = rows.filter((r) => r.note);
if (notes.length) {
  console.log('\nnotes:');
  for (const r of notes) console.log(`  ${r.name}: ${r.note}`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2) + '\n');
