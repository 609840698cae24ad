import { test } from 'node:test';
import assert from 'node:assert/strict';
import { next, canHandle, STATES } from '../../src/agent/states.js';

test('the firmware update path through the table', () => {
  const path = ['release', 'downloaded', 'armed', 'booted-trial', 'healthy', 'committed'] as const;
  let s: (typeof STATES)[number] = 'idle';
  const seen: string[] = [s];
  for (const e of path) seen.push((s = next(s, e)));
  assert.deepEqual(seen, ['idle', 'download', 'install', 'reboot', 'trial', 'commit', 'idle']);
});

test('an unhealthy trial rolls back; a bootloader fallback ends the update', () => {
  assert.equal(next('trial', 'unhealthy'), 'rollback');
  assert.equal(next('rollback', 'booted-rolled-back'), 'idle');
  assert.equal(next('reboot', 'booted-fallback'), 'idle');
});

test('events with no row are refused with a code', () => {
  assert.equal(canHandle('idle', 'healthy'), false);
  assert.throws(() => next('idle', 'healthy'), { code: 'SF_ERR_TRANSITION' });
});
