// Whether a verified manifest may be installed on this device: the right board, a newer
// version than the one running, a security version not below the committed floor.

import { SlotflipError } from '../errors.js';
import type { Manifest } from '../bundle/manifest.js';
import { compareVersions } from '../bundle/version.js';
import type { DeviceState } from './state.js';
import type { SlotName } from '../slots/model.js';

type Opts = { details?: Record<string, unknown> };

export class WrongBoardError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_WRONG_BOARD', message, options);
  }
}

export class DowngradeError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_DOWNGRADE', message, options);
  }
}

export class SecurityVersionError extends SlotflipError {
  constructor(message: string, options: Opts = {}) {
    super('SF_ERR_SECURITY_VERSION', message, options);
  }
}

export class MissingPayloadError extends SlotflipError {
  constructor(message: string) {
    super('SF_ERR_NO_PAYLOAD', message);
  }
}

export function checkPolicy(manifest: Manifest, board: string, state: DeviceState, booted: SlotName): void {
  if (!manifest.compatible.includes(board)) {
    throw new WrongBoardError(`bundle is for ${manifest.compatible.join(', ')}, this device is ${board}`, {
      details: { compatible: manifest.compatible, board },
    });
  }
  const running = state.slots[booted];
  if (running && compareVersions(manifest.version, running.version) <= 0) {
    throw new DowngradeError(`bundle version ${manifest.version} is not newer than the running ${running.version}`, {
      details: { version: manifest.version, running: running.version },
    });
  }
  const floor = Math.max(state.securityFloor, running?.securityVersion ?? 0);
  if (manifest.securityVersion < floor) {
    throw new SecurityVersionError(`bundle security version ${manifest.securityVersion} is below the device's ${floor}`, {
      details: { securityVersion: manifest.securityVersion, floor },
    });
  }
}
