// The transfer contract against a real mosquitto (see suite.ts); mosquitto-only cases follow.
import { transferSuite } from './suite.js';
import { startMosquitto } from './support.js';

transferSuite('mosquitto', () => startMosquitto());
