import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { realFs } from '../../src/platform/fs.js';
import { readBootedSlot, slotState } from '../../src/slots/model.js';

test('the booted slot comes from the kernel command line or a file', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sf-model-'));
  await fsp.writeFile(path.join(dir, 'cmdline'), 'console=ttyAMA0 root=/dev/vda3 slotflip.slot=b rw\n');
  assert.equal(await readBootedSlot(realFs, { cmdline: path.join(dir, 'cmdline'), param: 'slotflip.slot' }), 'b');
  await fsp.writeFile(path.join(dir, 'booted'), 'a\n');
  assert.equal(await readBootedSlot(realFs, { file: path.join(dir, 'booted') }), 'a');
  await fsp.writeFile(path.join(dir, 'cmdline'), 'console=ttyAMA0 quiet\n');
  await assert.rejects(readBootedSlot(realFs, { cmdline: path.join(dir, 'cmdline'), param: 'slotflip.slot' }), { code: 'SF_ERR_SLOT_STATE' });
});

test('slot state: the inactive slot is the one not booted, whatever the env says', () => {
  const env = new Map([
    ['slotflip_slot', 'b'],
    ['upgrade_available', '1'],
    ['bootcount', '2'],
  ]);
  assert.deepEqual(slotState(env, 'a', 'slotflip_slot', 3), { booted: 'a', primary: 'b', trial: true, bootcount: 2, bootlimit: 3, inactive: 'b' });
  assert.throws(() => slotState(new Map([['slotflip_slot', 'c']]), 'a', 'slotflip_slot', 3), { code: 'SF_ERR_SLOT_STATE' });
  assert.throws(() => slotState(new Map([['slotflip_slot', 'a'], ['bootcount', 'x']]), 'a', 'slotflip_slot', 3), { code: 'SF_ERR_SLOT_STATE' });
});
