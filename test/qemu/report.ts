// Results of the QEMU suite: each scenario appends one JSON line (board, scenario, pass/fail,
// seconds, figures) to $SLOTFLIP_QEMU_RESULTS; scripts/test-qemu.mjs folds them into the report.
import * as fs from 'node:fs';
import { errorMessage } from '../../src/errors.js';

export const BOARD = process.env['SLOTFLIP_QEMU_BOARD'] ?? 'qemu-arm64-virt';

export interface ScenarioResult {
  board: string;
  scenario: string;
  status: 'pass' | 'fail';
  seconds: number;
  figures: Record<string, unknown>;
  error?: string;
}

export function record(r: ScenarioResult): void {
  const file = process.env['SLOTFLIP_QEMU_RESULTS'];
  if (file) fs.appendFileSync(file, JSON.stringify(r) + '\n');
}

/** Runs a scenario body, timing it and recording pass or fail (the error is rethrown). */
export async function scenario(name: string, body: (figures: Record<string, unknown>) => Promise<void>): Promise<void> {
  const t0 = Date.now();
  const figures: Record<string, unknown> = {};
  try {
    await body(figures);
    record({ board: BOARD, scenario: name, status: 'pass', seconds: (Date.now() - t0) / 1000, figures });
  } catch (err) {
    record({ board: BOARD, scenario: name, status: 'fail', seconds: (Date.now() - t0) / 1000, figures, error: errorMessage(err).slice(0, 4000) });
    throw err;
  }
}
