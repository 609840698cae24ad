// A device as the install, commit and rollback verbs see it: its config, the seam they write
// through, its bootloader env, its state file, and a consistent reading of all of them.

import type { DeviceConfig } from '../config/device.js';
import { realFs, type FileSystem } from '../platform/fs.js';
import { openBootEnv, type BootEnv } from '../bootenv/index.js';
import { readBootedSlot, slotState, type SlotName, type SlotState } from '../slots/model.js';
import { StateStore, type DeviceState } from './state.js';

export interface Device {
  config: DeviceConfig;
  fs: FileSystem;
  env: BootEnv;
  state: StateStore;
}

export function openDevice(config: DeviceConfig, fs: FileSystem = realFs): Device {
  return { config, fs, env: openBootEnv(config.env, fs), state: new StateStore(fs, config.dataDir) };
}

export interface DeviceView {
  slots: SlotState;
  env: Map<string, string>;
  state: DeviceState;
}

export async function readDevice(dev: Device): Promise<DeviceView> {
  const [env, booted, state] = await Promise.all([dev.env.read(), readBootedSlot(dev.fs, dev.config.bootedSlot), dev.state.load()]);
  return { env, state, slots: slotState(env, booted, dev.config.slotVariable, dev.config.bootlimit) };
}

export function slotDevice(dev: Device, slot: SlotName) {
  return dev.config.slots[slot];
}
