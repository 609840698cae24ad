// The publisher's window: closes at the frame or byte limit of the slowest live device, opens
// on its ack, and stops waiting for a device that went silent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetWindow } from '../../src/transfer/flow.js';

test('the slowest live device holds the window; a silent one is passed over after stallMs', () => {
  const w = new FleetWindow({ frames: 4, bytes: 1000, stallMs: 500 });
  w.join('fast', 0);
  w.join('slow', 0);
  for (let s = 1; s <= 4; s++) w.log.record(s, 100);
  w.heard('fast', 4, 10);
  assert.deepEqual(w.check(100, 20), { open: false, retryAt: 500 });
  w.heard('slow', 2, 30);
  assert.equal(w.check(100, 40).open, true);
  for (let s = 5; s <= 6; s++) w.log.record(s, 100);
  assert.equal(w.check(100, 50).open, false);
  assert.equal(w.check(100, 531).open, true, 'slow stalled: no longer counts');
});

test('the byte limit closes the window before the frame limit', () => {
  const w = new FleetWindow({ frames: 100, bytes: 1000, stallMs: 500 });
  w.join('d', 0);
  for (let s = 1; s <= 3; s++) w.log.record(s, 300);
  assert.equal(w.check(100, 1).open, true);
  assert.equal(w.check(200, 1).open, false);
  w.heard('d', 1, 2);
  assert.equal(w.check(300, 3).open, true);
});
