// Shared harness of the property-based fuzz tests: run counts (scaled by FUZZ_RUNS), one seed
// per run (FUZZ_SEED, printed so a failure replays), the "typed refusal" assertion, a timeout
// per case, and a watch for unhandled rejections and uncaught exceptions between cases.

import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { SlotflipError } from '../../src/errors.js';

/** Multiplier of every property's run count: 1 in `npm test`, larger in `npm run fuzz`. */
export const MULTIPLIER = Number(process.env['FUZZ_RUNS'] ?? '1');
/** One seed for every property of this process; random unless FUZZ_SEED replays a run. */
export const SEED = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : (Math.random() * 2 ** 31) | 0;
assert.ok(Number.isFinite(MULTIPLIER) && MULTIPLIER > 0, `FUZZ_RUNS must be a positive number, not ${process.env['FUZZ_RUNS']}`);
assert.ok(Number.isInteger(SEED), `FUZZ_SEED must be an integer, not ${process.env['FUZZ_SEED']}`);

export function runs(base: number): number {
  return Math.max(1, Math.round(base * MULTIPLIER));
}

/** Every code docs/errors.md lists: a refusal must carry one of these. */
export const DOCUMENTED_CODES: ReadonlySet<string> = new Set(
  [...readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8').matchAll(/^\| `(SF_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!),
);

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}${(err as { code?: unknown }).code ? ` ${String((err as { code?: unknown }).code)}` : ''}: ${err.message}\n${err.stack ?? ''}`;
  return `non-Error thrown: ${String(err)}`;
}

/**
 * The refusal contract: a SlotflipError whose code is a documented SF_ERR_* (never
 * SF_ERR_INTERNAL), and, when `allowed` is given, one of those codes.
 */
export function assertTyped(err: unknown, allowed?: readonly string[]): asserts err is SlotflipError {
  if (!(err instanceof SlotflipError)) assert.fail(`expected a SlotflipError, got ${describe(err)}`);
  assert.match(err.code, /^SF_ERR_[A-Z0-9_]+$/, `malformed code ${err.code}`);
  assert.ok(DOCUMENTED_CODES.has(err.code), `code ${err.code} is not in docs/errors.md (${err.message})`);
  assert.notEqual(err.code, 'SF_ERR_INTERNAL', `internal error: ${err.message}`);
  if (allowed && !allowed.includes(err.code)) assert.fail(`code ${err.code} is not one of ${allowed.join(', ')}: ${err.message}`);
}

/** Runs `fn`; returns its value, or the typed refusal it threw (anything else fails). */
export function outcome<T>(fn: () => T, allowed?: readonly string[]): { ok: true; value: T } | { ok: false; error: SlotflipError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    assertTyped(err, allowed);
    return { ok: false, error: err };
  }
}

export async function outcomeAsync<T>(fn: () => Promise<T>, allowed?: readonly string[]): Promise<{ ok: true; value: T } | { ok: false; error: SlotflipError }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    assertTyped(err, allowed);
    return { ok: false, error: err };
  }
}

export class HangError extends Error {}

/** Rejects with HangError when `p` has not settled within `ms` (the case hung). */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'case'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError(`${what} did not settle within ${ms} ms (hang)`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

// Errors nobody awaited or listened for. Listening here also keeps one from killing the
// process, so the property that caused it fails (and shrinks) instead.
const strays: string[] = [];
process.on('unhandledRejection', (reason) => strays.push(`unhandled rejection: ${describe(reason)}`));
process.on('uncaughtException', (err) => strays.push(`uncaught exception: ${describe(err)}`));

/** Lets pending rejections surface, then fails if any case left one behind. */
export async function assertNoStrays(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  if (strays.length) {
    const found = strays.splice(0);
    assert.fail(found.join('\n'));
  }
}

interface TestLike {
  name: string;
  diagnostic(message: string): void;
  /** false: leave this run out of the FUZZ_REPORT table (the harness's self-tests). */
  report?: boolean;
}

function report(t: TestLike, cases: number, ms: number, failed: boolean): void {
  t.diagnostic(`${cases} cases in ${ms.toFixed(0)} ms (seed ${SEED}, FUZZ_RUNS ${MULTIPLIER})`);
  const file = process.env['FUZZ_REPORT'];
  if (file && t.report !== false) {
    const caller = basename(process.argv[1] ?? 'unknown');
    appendFileSync(file, JSON.stringify({ file: caller, property: t.name, cases, ms: Math.round(ms), seed: SEED, failed }) + '\n');
  }
}

function replayHint(err: unknown): never {
  if (err instanceof Error) err.message += `\nreplay: FUZZ_SEED=${SEED} FUZZ_RUNS=${MULTIPLIER} node scripts/fuzz.mjs --seed ${SEED} --runs ${MULTIPLIER} ${basename(process.argv[1] ?? '')}`;
  throw err;
}

/** A synchronous property: `base` runs (× FUZZ_RUNS), reported under the test's name. */
export function fuzzSync<T>(t: TestLike, base: number, arb: fc.Arbitrary<T>, check: (value: T) => void): void {
  let cases = 0;
  const started = performance.now();
  let failed = false;
  try {
    fc.assert(
      fc.property(arb, (v) => {
        cases++;
        check(v);
      }),
      { numRuns: runs(base), seed: SEED },
    );
  } catch (err) {
    failed = true;
    replayHint(err);
  } finally {
    report(t, cases, performance.now() - started, failed);
  }
}

/**
 * An asynchronous property: each case must settle within `timeoutMs` and leave no unhandled
 * rejection or uncaught exception behind.
 */
export async function fuzzAsync<T>(t: TestLike, base: number, arb: fc.Arbitrary<T>, check: (value: T) => Promise<void>, timeoutMs = 5000): Promise<void> {
  let cases = 0;
  const started = performance.now();
  let failed = false;
  try {
    await fc.assert(
      fc.asyncProperty(arb, async (v) => {
        cases++;
        await withTimeout(check(v), timeoutMs);
        await assertNoStrays();
      }),
      { numRuns: runs(base), seed: SEED },
    );
  } catch (err) {
    failed = true;
    replayHint(err);
  } finally {
    report(t, cases, performance.now() - started, failed);
  }
}
