// The operator commands through main(): publish (exit 0 when every device commits, 1 when one
// does not) and status --broker (every device's retained report).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAedes } from '../transfer/support.js';
import { makeBundle, makeFleet, runInProcess } from '../agent/fleet.js';
import { runCli } from '../support/cli.js';

const cli = (argv: string[]): ReturnType<typeof runCli> => runCli(argv);

test('publish --wait exits 0 when all commit and 1 when one rolls back; status --broker lists them', { timeout: 120_000 }, async () => {
  const broker = await startAedes();
  const fleet = await makeFleet(broker.url, ['op1', 'op2'], { group: 'ops' });
  const run = runInProcess(fleet);
  try {
    const good = await makeBundle(fleet, { version: '2.0.0', kernel: 'ok', worker: {} });
    const r1 = await cli(['publish', good, '--broker', broker.url, '--group', 'ops', '--wait', '--timeout', '60', '--json']);
    assert.equal(r1.code, 0, r1.err + r1.out + run.logs.join('\n'));
    assert.deepEqual(JSON.parse(r1.out).outcomes, { op1: 'committed', op2: 'committed' });

    const bad = await makeBundle(fleet, { version: '3.0.0', kernel: 'ok', worker: { SAMPLE_NEVER_READY: '1' } });
    const r2 = await cli(['publish', bad, '--broker', broker.url, '--devices', 'op1', '--wait', '--timeout', '60']);
    assert.equal(r2.code, 1, r2.err + r2.out);
    assert.match(r2.out, /op1: rolled-back \(SF_ERR_WORKER_UNHEALTHY/);

    const st = await cli(['status', '--broker', broker.url, '--json']);
    assert.equal(st.code, 0, st.err);
    const reports = JSON.parse(st.out) as { deviceId: string; version: string; online: boolean }[];
    const mine = Object.fromEntries(reports.filter((r) => r.deviceId.startsWith('op')).map((r) => [r.deviceId, r.version]));
    assert.deepEqual(mine, { op1: '2.0.0', op2: '2.0.0' });
    const table = await cli(['status', '--broker', broker.url]);
    assert.match(table.out, /^DEVICE\s+LINK\s+SLOT\s+VERSION/m);
    assert.match(table.out, /^op1\s+online\s+b\s+2\.0\.0\s+idle\s+rolled-back 3\.0\.0\s+SF_ERR_WORKER_UNHEALTHY/m);
  } finally {
    await run.stop();
    await fleet.stop();
    await broker.close();
  }
});

test('publish without a broker URL is a usage error', async () => {
  const r = await cli(['publish', 'x.sfb']);
  assert.equal(r.code, 2);
  assert.match(r.err, /SF_ERR_USAGE: missing --broker URL/);
});
