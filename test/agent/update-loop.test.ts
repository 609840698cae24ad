// The update loop against an in-process aedes broker (nothing but Node needed).
import { updateLoopScenarios } from './scenarios.js';
import { startAedes } from '../transfer/support.js';

updateLoopScenarios('aedes', () => startAedes());
