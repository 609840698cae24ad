import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyBoot } from '../../src/agent/boot.js';
import { freshJournal, type Journal } from '../../src/agent/journal.js';
import type { SlotState } from '../../src/slots/model.js';
import type { AgentState } from '../../src/agent/states.js';

const j = (state: AgentState): Journal => ({ ...freshJournal(), state, release: { id: '0123456789abcdef', version: '2.0.0', target: 'b', from: 'a' } });
const s = (booted: 'a' | 'b', primary: 'a' | 'b', trial: boolean): SlotState => ({ booted, primary, trial, bootcount: 1, bootlimit: 3, inactive: booted === 'a' ? 'b' : 'a' });

test('after the reboot: trial on the new slot, pending reboot, or bootloader fallback', () => {
  assert.deepEqual(classifyBoot(j('reboot'), s('b', 'b', true)), { kind: 'event', event: 'booted-trial' });
  assert.deepEqual(classifyBoot(j('reboot'), s('a', 'b', true)), { kind: 'reboot-pending' });
  // The bootloader fell back but left the env armed (count past the limit): a fallback, not a pending reboot.
  assert.deepEqual(classifyBoot(j('reboot'), { ...s('a', 'b', true), bootcount: 4 }), { kind: 'event', event: 'booted-fallback' });
  assert.deepEqual(classifyBoot(j('trial'), { ...s('a', 'b', true), bootcount: 4 }), { kind: 'event', event: 'booted-fallback' });
  assert.deepEqual(classifyBoot(j('reboot'), s('a', 'a', false)), { kind: 'event', event: 'booted-fallback' });
  assert.deepEqual(classifyBoot(j('trial'), s('a', 'a', false)), { kind: 'event', event: 'booted-fallback' });
});

test('a restart in the middle of a trial continues the trial; after commit it finishes the commit', () => {
  assert.deepEqual(classifyBoot(j('trial'), s('b', 'b', true)), { kind: 'event', event: 'booted-trial' });
  assert.deepEqual(classifyBoot(j('trial'), s('b', 'b', false)), { kind: 'finish-commit' });
  assert.deepEqual(classifyBoot(j('commit'), s('b', 'b', false)), { kind: 'finish-commit' });
});

test('our own rollback ends when the old slot is running; before the reboot it is finished', () => {
  assert.deepEqual(classifyBoot(j('rollback'), s('a', 'a', false)), { kind: 'event', event: 'booted-rolled-back' });
  assert.deepEqual(classifyBoot(j('rollback'), s('b', 'a', false)), { kind: 'finish-rollback' });
});

test('downloads resume; an idle agent notices a trial armed by a local install', () => {
  assert.deepEqual(classifyBoot(j('download'), s('a', 'a', false)), { kind: 'resume-download' });
  assert.deepEqual(classifyBoot({ ...freshJournal() }, s('b', 'b', true)), { kind: 'event', event: 'booted-trial' });
  assert.deepEqual(classifyBoot({ ...freshJournal() }, s('a', 'a', false)), { kind: 'none' });
});
