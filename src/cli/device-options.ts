// Options shared by the device-side commands (install, status, mark-good, rollback --local).

import type { OptionSpec } from './args.js';
import { loadDeviceConfig } from '../config/device.js';
import { openDevice, type Device } from '../install/device.js';

export const DEFAULT_DEVICE_CONFIG = '/etc/slotflip/device.json';

export const deviceOptions = {
  config: { type: 'string', short: 'c', arg: 'DEVICE.json', help: `device config (default ${DEFAULT_DEVICE_CONFIG})` },
  json: { type: 'boolean', help: 'print one JSON object instead of text' },
} satisfies Record<string, OptionSpec>;

export function deviceFromArgs(config: string | undefined, env: NodeJS.ProcessEnv): Device {
  return openDevice(loadDeviceConfig(config ?? env['SLOTFLIP_CONFIG'] ?? DEFAULT_DEVICE_CONFIG));
}
