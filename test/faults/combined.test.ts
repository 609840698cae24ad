// Connection and data faults at once, on aedes: the proxy between agents and broker while the
// rogue publisher injects, forged-CRC frames among its kinds; then the attacks that do end a run
// (forged CRCs, a replaced manifest) or only cost re-sends (phantom devices and publishers).

import { startAedes } from '../transfer/support.js';
import { faultSuites } from './suite.js';

faultSuites('aedes', startAedes, { seeds: [1, 2, 3, 4, 5], devicesPerRun: 2, imageBytes: [4 * 1024 * 1024, 6 * 1024 * 1024, 8 * 1024 * 1024], timeoutMs: 90_000 }, ['combined', 'attacks']);
