// The one row format every bench file emits: a figure, its baseline measured in the same run,
// and their ratio. Each bench prints its rows and, with `--json FILE`, writes them as an array
// that scripts/bench.mjs folds into the suite's table.

import { writeFileSync } from 'node:fs';

export interface Metric {
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  ratio: number | null;
  /** Free text shown under the table: spread of the runs, what was skipped and why. */
  note?: string;
}

const round = (x: number, digits: number): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

export function metric(name: string, value: number, unit: string, baseline: string, baselineValue: number, note?: string): Metric {
  const ratio = baselineValue ? value / baselineValue : null;
  return { name, value: round(value, 2), unit, baseline, baselineValue: round(baselineValue, 2), ratio: ratio === null ? null : round(ratio, 3), ...(note ? { note } : {}) };
}

/** A row for a figure that could not be measured here (tool missing, bench file missing). */
export function skipped(name: string, unit: string, baseline: string, why: string): Metric {
  return { name, value: NaN, unit, baseline, baselineValue: NaN, ratio: null, note: `skipped: ${why}` };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** "median 412 (min 380, max 431, n=3)" for notes. */
export function spread(xs: number[], digits = 0): string {
  const f = (x: number): string => x.toFixed(digits);
  return `median ${f(median(xs))} (min ${f(Math.min(...xs))}, max ${f(Math.max(...xs))}, n=${xs.length})`;
}

/** The value after `--flag` in argv, if any. */
export function argValue(argv: string[], flag: string): string | undefined {
  const at = argv.indexOf(flag);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** Prints the rows and writes them to the `--json FILE` of argv, if given. */
export function emit(metrics: Metric[], argv: string[] = process.argv): void {
  const show = (x: number): string => (Number.isFinite(x) ? String(x) : '-');
  for (const m of metrics) {
    const ratio = m.ratio === null ? '' : `  ratio ${m.ratio}`;
    console.log(`  ${m.name.padEnd(20)} ${show(m.value).padStart(9)} ${m.unit.padEnd(6)} baseline ${show(m.baselineValue)} (${m.baseline})${ratio}`);
    if (m.note) console.log(`  ${''.padEnd(20)} ${m.note}`);
  }
  const file = argValue(argv, '--json');
  // JSON has no NaN: a skipped figure is null there.
  if (file) writeFileSync(file, JSON.stringify(metrics, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
}

export function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s} (e.g. 64M, 1G)`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
}

export const MiB = 1024 * 1024;
