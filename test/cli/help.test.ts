import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS, SUMMARIES } from '../../src/cli/commands.js';
import { runCli } from '../support/cli.js';

test('every command has a help summary, and --help lists them all', async () => {
  assert.deepEqual(Object.keys(SUMMARIES).sort(), Object.keys(COMMANDS).sort());
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const [name, summary] of Object.entries(SUMMARIES)) assert.ok(r.out.includes(`${name}`) && r.out.includes(summary), name);
});

test('every command answers --help with its usage', async () => {
  for (const name of Object.keys(COMMANDS)) {
    const r = await runCli([name, '--help']);
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    assert.match(r.out, /usage: slotflip/, name);
  }
});

test('an unknown command is a usage error', async () => {
  const r = await runCli(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^error SF_ERR_USAGE: unknown command "frobnicate"/);
});
