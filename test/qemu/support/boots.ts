// Scenario 8's checks: every boot's env as the bootloader (U-Boot's script or the MIPS first
// stage) printed it on the console, against the boot simulator's decision for that env; and the
// env that fw_printenv reads on the host after the guest stops, against what the agent reported.
import assert from 'node:assert/strict';
import { decideBoot } from '../../../src/simulator/boot-rules.js';
import type { StatusReport } from '../../../src/agent/status.js';

export interface BootSeen {
  env: Record<string, string>;
  booted: 'a' | 'b';
  fallback: boolean;
}

/** The boots a console log shows: the env line, then the slot the bootloader started. */
export function bootsIn(consoleText: string, slotVariable: string): BootSeen[] {
  const re = new RegExp(
    `^slotflip-(?:boot|firststage): ${slotVariable}=(\\S*) upgrade_available=(\\S*) bootcount=(\\S*) bootlimit=(\\S*)\\n` +
      `(?:[^\\n]*\\n)*?slotflip-(?:boot|firststage): (?:bootcount \\S+ > bootlimit \\S+: altbootcmd, )?booting slot ([ab])`,
    'gm',
  );
  const out: BootSeen[] = [];
  for (const m of consoleText.matchAll(re)) {
    out.push({
      env: { [slotVariable]: m[1]!, upgrade_available: m[2]!, bootcount: m[3]!, bootlimit: m[4]! },
      booted: m[5] as 'a' | 'b',
      fallback: m[0].includes('altbootcmd'),
    });
  }
  return out;
}

/** Asserts each boot went where decideBoot says it goes for the same env; returns the count. */
export function checkBootsAgainstSimulator(consoleText: string, slotVariable: string, bootlimit: number): number {
  const boots = bootsIn(consoleText, slotVariable);
  boots.forEach((b, i) => {
    const d = decideBoot(new Map(Object.entries(b.env)), slotVariable, bootlimit);
    assert.equal(b.booted, d.slot, `boot ${i + 1}: the bootloader booted ${b.booted}, decideBoot says ${d.slot} for ${JSON.stringify(b.env)}`);
    assert.equal(b.fallback, d.fallback, `boot ${i + 1}: fallback ${b.fallback}, decideBoot says ${d.fallback} for ${JSON.stringify(b.env)}`);
  });
  return boots.length;
}

/**
 * The env on the stopped disk (fw_printenv) agrees with an idle agent's last report: the slot
 * variable names the slot it runs, and no trial is armed.
 */
export function checkEnvAgainstStatus(env: Record<string, string>, slotVariable: string, status: StatusReport | undefined): void {
  assert.ok(status, 'the agent reported a status');
  assert.equal(status.state, 'idle', `agent state ${status.state}`);
  assert.equal(env[slotVariable], status.slot, `fw_printenv ${slotVariable}=${env[slotVariable]}, the agent runs slot ${status.slot}`);
  assert.equal(env['upgrade_available'], '0', 'no trial armed once the agent is idle');
  assert.equal(status.trial, false);
}
