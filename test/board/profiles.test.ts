// Every shipped board profile loads through the schema, and the QEMU and example boards hold
// together: partitions match slots and data, env copies sit below the first partition, and
// the boot script template fills without a missing field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { listProfiles, loadProfile, parseProfile, profilesDir } from '../../src/board/profile.js';
import { renderBootScript } from '../../qemu/bootscript.js';
import { envCopiesOnDisk, partitionOf } from '../../qemu/layout.js';

const BOARDS = ['qemu-arm64-virt', 'qemu-armhf-virt', 'qemu-mips64el-malta', 'raspberrypi4-uboot'];

test('the QEMU boards and the real-board example are shipped', () => {
  const names = listProfiles();
  for (const b of BOARDS) assert.ok(names.includes(b), `${b} in ${names.join(', ')}`);
});

test('every shipped profile loads through the schema', () => {
  for (const name of listProfiles()) {
    const p = loadProfile(name);
    assert.equal(p.name, name, `${name}: the name field matches the file name`);
  }
});

for (const name of BOARDS) {
  test(`${name}: storage, slots, env and boot script agree`, () => {
    const p = loadProfile(name);
    assert.ok(p.storage, 'has a storage layout');
    assert.equal(p.slots.a.device, partitionOf(p, 'a').device);
    assert.equal(p.slots.b.device, partitionOf(p, 'b').device);
    assert.equal(p.data.device, partitionOf(p, 'data').device);
    assert.equal(partitionOf(p, 'boot').number, 1, 'U-Boot distro boot and the MIPS first stage read partition 1');
    assert.ok(envCopiesOnDisk(p).length >= 1);
    if (p.bootloader.kind === 'uboot') {
      const script = renderBootScript(p, p.file);
      assert.doesNotMatch(script, /@[A-Z_]+@/, 'every template field filled');
      assert.match(script, new RegExp(`${p.bootloader.slotVariable}=\\$\\{${p.bootloader.slotVariable}\\}`));
      assert.match(script, /setexpr bootcount \$\{bootcount\} \+ 1/);
      assert.match(script, new RegExp(`env import -d -c 0x[0-9a-f]+ 0x${(p.env.copies[0]!.size - 1).toString(16)}\n`), 'the redundant copy is checked over size - 1 (flags byte)');
    } else {
      assert.equal(p.bootloader.kind, 'first-stage');
      assert.match(p.description, /NO U-Boot/, 'a first-stage board says so plainly');
    }
  });
}

test('QEMU boards carry a qemu block; the real-board example is marked untested and has none', () => {
  for (const name of BOARDS.filter((b) => b.startsWith('qemu-'))) {
    const p = loadProfile(name);
    assert.equal(p.tested, 'qemu');
    assert.ok(p.qemu, `${name}.qemu`);
    assert.equal(p.qemu.bios === undefined, p.bootloader.kind === 'first-stage', `${name}: U-Boot as -bios exactly when the bootloader is U-Boot`);
  }
  const rpi = loadProfile('raspberrypi4-uboot');
  assert.equal(rpi.tested, 'untested');
  assert.equal(rpi.qemu, undefined);
});

test('the schema refuses a qemu block with an unknown field and a partition with an unknown role', () => {
  const base = loadProfile('qemu-arm64-virt');
  const { file: _file, ...json } = base;
  assert.throws(() => parseProfile({ ...json, qemu: { ...json.qemu, machin: 'virt' } }, 'x.json'), { code: 'SF_ERR_CONFIG' });
  const storage = { ...json.storage!, partitions: [...json.storage!.partitions, { role: 'c', device: '/dev/vda5', sizeMiB: 1 }] };
  assert.throws(() => parseProfile({ ...json, storage }, 'x.json'), { code: 'SF_ERR_CONFIG' });
});

test('the single-copy script renders for a one-copy board and refuses a two-copy one', () => {
  const p = loadProfile('qemu-arm64-virt');
  const single = { ...p, env: { copies: [p.env.copies[0]!] }, bootloader: { ...p.bootloader, script: 'scripts/uboot-bootcount.cmd' } };
  assert.match(renderBootScript(single, p.file), /env import -d -c \$\{sf_buf\} 0x40000/);
  assert.throws(() => renderBootScript({ ...single, env: p.env }, p.file), { code: 'SF_ERR_QEMU' });
  assert.throws(() => renderBootScript({ ...p, env: { copies: [p.env.copies[0]!] } }, p.file), { code: 'SF_ERR_QEMU' });
});

test('a bootlimit the script cannot count is refused when the script is rendered', () => {
  const p = loadProfile('qemu-arm64-virt');
  assert.throws(() => renderBootScript({ ...p, bootloader: { ...p.bootloader, bootlimit: 12 } }, path.join(profilesDir(), 'qemu-arm64-virt.json')), { code: 'SF_ERR_QEMU' });
});
