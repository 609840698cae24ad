// The transfer contract against an in-process aedes broker (see suite.ts).
import { transferSuite } from './suite.js';
import { startAedes } from './support.js';

transferSuite('aedes', startAedes);
