// The fuzz harness must be able to fail: an untyped or undocumented error, a hung case and a
// broken round trip each make a property fail (and report a replayable seed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotflipError } from '../../src/errors.js';
import { assertTyped, fuzzAsync, fuzzSync, HangError, withTimeout } from './support.js';

const quiet = { name: 'self-test', diagnostic: () => undefined, report: false };

test('assertTyped takes documented SlotflipError codes only', () => {
  assertTyped(new SlotflipError('SF_ERR_FRAME', 'x'));
  assert.throws(() => assertTyped(new TypeError('x')), /expected a SlotflipError/);
  assert.throws(() => assertTyped(new SlotflipError('SF_ERR_NOT_IN_THE_DOCS', 'x')), /not in docs\/errors.md/);
  assert.throws(() => assertTyped(new SlotflipError('SF_ERR_INTERNAL', 'x')), /internal error/);
  assert.throws(() => assertTyped(new SlotflipError('SF_ERR_FRAME', 'x'), ['SF_ERR_MANIFEST']), /is not one of/);
  assert.throws(() => assertTyped('a string'), /non-Error thrown/);
});

test('a property that throws untyped fails with a replay line', () => {
  assert.throws(
    () => fuzzSync(quiet, 50, fc.nat(), (n) => void (n > 10 && assertTyped(new RangeError('boom')))),
    (err: Error) => /replay: FUZZ_SEED=-?\d+/.test(err.message) && /Counterexample: \[11\]/.test(err.message),
  );
});

test('a case that never settles fails as a hang', async () => {
  await assert.rejects(withTimeout(new Promise(() => undefined), 20), HangError);
  await assert.rejects(
    fuzzAsync(quiet, 3, fc.nat(), () => new Promise(() => undefined), 20),
    (err: Error) => err.cause instanceof HangError && /replay: FUZZ_SEED/.test(err.message),
  );
});
