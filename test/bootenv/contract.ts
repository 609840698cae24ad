// The BootEnv contract: what every backend promises, run against each (contract.test.ts).
// A backend passes when callers cannot tell which one they hold, apart from `kind`.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { initBootEnv, openBootEnv } from '../../src/bootenv/index.js';
import { EnvVariableError } from '../../src/bootenv/errors.js';
import type { EnvLocation } from '../../src/config/device.js';

export interface ContractTarget {
  kind: string;
  /** A fresh, not yet initialised location, cleaned up by the caller's `after`. */
  location(t: TestContext): EnvLocation;
}

export function bootEnvContract(name: string, target: ContractTarget): void {
  const entries = (m: Map<string, string>) => [...m];

  test(`${name}: init then read gives the variables back, sorted by name`, async (t) => {
    const loc = target.location(t);
    const env = await initBootEnv(loc, { zeta: '1', alpha: 'two words', mid: 'x' });
    assert.equal(env.kind, target.kind);
    assert.deepEqual(entries(await openBootEnv(loc).read()), [['alpha', 'two words'], ['mid', 'x'], ['zeta', '1']]);
  });

  test(`${name}: update applies every change at once and returns what read() then sees`, async (t) => {
    const loc = target.location(t);
    await initBootEnv(loc, { bootcount: '2', upgrade_available: '1', keep: 'k' });
    const env = openBootEnv(loc);
    const after = await env.update({ bootcount: '0', upgrade_available: null, slot: 'b' });
    assert.deepEqual(entries(after), [['bootcount', '0'], ['keep', 'k'], ['slot', 'b']]);
    assert.deepEqual(entries(await openBootEnv(loc).read()), entries(after));
  });

  test(`${name}: an empty value deletes, as U-Boot's setenv does; deleting a missing name is fine`, async (t) => {
    const loc = target.location(t);
    await initBootEnv(loc, { a: '1', b: '2' });
    const after = await openBootEnv(loc).update({ a: '', nothere: null });
    assert.deepEqual(entries(after), [['b', '2']]);
  });

  test(`${name}: values keep spaces, newlines, '=' and UTF-8 exactly`, async (t) => {
    const loc = target.location(t);
    await initBootEnv(loc, {});
    const vars = { bootargs: 'console=ttyS0,115200 root=/dev/mmcblk0p2 rw', script: 'line one\nline two', text: 'grüße ✓' };
    await openBootEnv(loc).update(vars);
    assert.deepEqual(Object.fromEntries(await openBootEnv(loc).read()), vars);
  });

  test(`${name}: an empty environment is valid`, async (t) => {
    const loc = target.location(t);
    await initBootEnv(loc, {});
    assert.equal((await openBootEnv(loc).read()).size, 0);
  });

  test(`${name}: names with '=' or NUL, empty names and values with NUL are refused, nothing changes`, async (t) => {
    const loc = target.location(t);
    await initBootEnv(loc, { a: '1' });
    const env = openBootEnv(loc);
    const bads: Record<string, string>[] = [{ 'x=y': '1' }, { '': 'v' }, { 'n\0': 'v' }, { ok: 'v\0' }];
    for (const bad of bads) {
      await assert.rejects(env.update({ a: '2', ...bad }), (e: unknown) => e instanceof EnvVariableError && e.code === 'SF_ERR_ENV_VARIABLE');
    }
    await assert.rejects(initBootEnv(loc, { 'x=y': '1' }), EnvVariableError);
    assert.deepEqual(entries(await env.read()), [['a', '1']]);
  });

  test(`${name}: many updates in a row keep only the last state`, async (t) => {
    const loc = target.location(t);
    await initBootEnv(loc, { n: '0' });
    const env = openBootEnv(loc);
    for (let i = 1; i <= 300; i++) await env.update({ n: String(i), [`v${i % 3}`]: String(i) });
    assert.deepEqual(entries(await env.read()), [['n', '300'], ['v0', '300'], ['v1', '298'], ['v2', '299']]);
  });
}
