// Data faults on aedes: CRC forging itself, then fault runs with the rogue publisher injecting
// frames and requests that must change nothing, and a forged release that must be refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32 } from '../../src/transfer/crc.js';
import { startAedes } from '../transfer/support.js';
import { forceCrc } from './rogue.js';
import { faultSuites } from './suite.js';

test('forceCrc makes any data carry any CRC-32', () => {
  for (let i = 0; i < 200; i++) {
    const data = randomBytes(4 + (i % 97) * 13);
    const target = crc32(randomBytes(8));
    forceCrc(data, target);
    assert.equal(crc32(data), target);
  }
});

faultSuites('aedes', startAedes, { seeds: [1, 2, 3, 4, 5], devicesPerRun: 2, imageBytes: [4 * 1024 * 1024, 6 * 1024 * 1024, 8 * 1024 * 1024], timeoutMs: 90_000 }, ['data']);
