// Command-line front of the power-cut sweep (run by scripts/test-powercut.mjs): runs every flow,
// prints one line per flow, writes the JSON report, exits 1 on a violation not already known.
//   --json FILE    write { cutPoints, violations, flows: [...] }
//   --flow NAME    only this flow (repeatable)      --modes lose,torn,...   only these cut modes
//   --only K       only cut point K (repeatable)    --single-env            one env copy instead of two
//   --depth 2      also cut power at every call of every re-run (slow: minutes)

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CUT_MODES, type CutMode } from '../support/memory-fs.js';
import { FLOWS } from './flows.js';
import { sweep } from './sweep.js';
import { getWorld } from './world.js';

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    flow: { type: 'string', multiple: true },
    modes: { type: 'string' },
    only: { type: 'string', multiple: true },
    'single-env': { type: 'boolean', default: false },
    depth: { type: 'string', default: '1' },
  },
});

const flows = values.flow ? FLOWS.filter((f) => values.flow!.includes(f.name)) : FLOWS;
if (!flows.length) {
  console.error(`no such flow; known: ${FLOWS.map((f) => f.name).join(', ')}`);
  process.exit(2);
}
const modes = (values.modes?.split(',') ?? CUT_MODES) as CutMode[];
const bad = modes.filter((m) => !CUT_MODES.includes(m));
if (bad.length) {
  console.error(`unknown cut mode ${bad.join(', ')}; known: ${CUT_MODES.join(', ')}`);
  process.exit(2);
}

const started = performance.now();
const world = await getWorld(values['single-env'] ? 1 : 2);
const depth = Number(values.depth);
if (depth !== 1 && depth !== 2) {
  console.error('--depth is 1 or 2');
  process.exit(2);
}
const report = await sweep(flows, world, { modes, depth, ...(values.only ? { only: values.only.map(Number) } : {}) });
const known = new Map(flows.filter((f) => f.knownIssue).map((f) => [f.name, f.knownIssue!]));

for (const r of report.flows) {
  const tag = r.violations && known.has(r.name) ? '  (known issue, todo)' : '';
  const second = r.secondCutPoints === undefined ? '' : ` + ${r.secondCutPoints} second cuts`;
  console.log(`${r.name.padEnd(22)} ${String(r.calls).padStart(4)} calls ${String(r.cutPoints).padStart(5)} cut points${second} ${String(r.distinctDisks).padStart(4)} disks ${String(r.violations).padStart(4)} violations ${String(r.ms).padStart(6)} ms${tag}`);
  for (const v of r.details.slice(0, 5)) console.log(`    k=${v.k} ${v.mode} at ${v.call}: ${v.phase}: ${v.message}`);
  if (r.details.length > 5) console.log(`    ... ${r.violations - 5} more`);
}
const unexpected = report.flows.filter((r) => !known.has(r.name)).reduce((s, r) => s + r.violations, 0);
console.log(`${report.cutPoints} cut points (modes ${modes.join(', ')}; depth ${depth}), ${report.violations} violations (${unexpected} unexpected), ${Math.round(performance.now() - started)} ms`);

if (values.json) {
  const out = {
    cutPoints: report.cutPoints,
    violations: report.violations,
    unexpectedViolations: unexpected,
    modes,
    depth,
    envCopies: world.envCopies,
    flows: report.flows.map((r) => {
      const f = flows.find((x) => x.name === r.name)!;
      return { ...r, summary: f.summary, ...(f.knownIssue ? { knownIssue: f.knownIssue } : {}) };
    }),
  };
  writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
}
process.exit(unexpected ? 1 : 0);
