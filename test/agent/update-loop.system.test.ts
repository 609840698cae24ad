// The update loop against a real mosquitto (Debian package), started on a free loopback port.
import { updateLoopScenarios } from './scenarios.js';
import { startMosquitto } from '../transfer/support.js';

updateLoopScenarios('mosquitto', () => startMosquitto());
