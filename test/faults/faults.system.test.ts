// The fault runs on a real mosquitto: the proxy between the agents and the broker, the rogue
// publisher on the broker, both at once, and the attacks (fails when mosquitto is missing).

import { startMosquitto } from '../transfer/support.js';
import { faultSuites } from './suite.js';

faultSuites('mosquitto', () => startMosquitto(), { seeds: [1, 2, 3, 4, 5], devicesPerRun: 2, imageBytes: [4 * 1024 * 1024, 6 * 1024 * 1024, 8 * 1024 * 1024], timeoutMs: 120_000 }, ['connection', 'data', 'combined', 'attacks']);
