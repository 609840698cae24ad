import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideBoot } from '../../src/simulator/boot-rules.js';

const env = (o: Record<string, string>) => new Map(Object.entries(o));

test('a committed env boots its slot and saves nothing', () => {
  assert.deepEqual(decideBoot(env({ slotflip_slot: 'a', upgrade_available: '0', bootcount: '0' }), 'slotflip_slot', 3), { slot: 'a', changes: {}, fallback: false });
});

test('a trial counts boots up to the limit, then falls back to the other slot', () => {
  let e = env({ slotflip_slot: 'b', upgrade_available: '1', bootcount: '0', bootlimit: '2' });
  const slots: string[] = [];
  for (let i = 0; i < 4; i++) {
    const d = decideBoot(e, 'slotflip_slot', 3);
    slots.push(`${d.slot}${d.fallback ? '!' : ''}`);
    e = new Map([...e, ...Object.entries(d.changes)]);
  }
  assert.deepEqual(slots, ['b', 'b', 'a!', 'a']);
  assert.equal(e.get('upgrade_available'), '0');
  assert.equal(e.get('bootcount'), '0');
  assert.equal(e.get('slotflip_slot'), 'a');
});

test('bootlimit defaults from the board when the env has none; hex counts are read', () => {
  const d = decideBoot(env({ slotflip_slot: 'a', upgrade_available: '1', bootcount: '0x3' }), 'slotflip_slot', 3);
  assert.equal(d.fallback, true);
  assert.equal(d.slot, 'b');
});
