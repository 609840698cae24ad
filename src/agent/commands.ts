// Operator commands (rollback, reboot, cancel) reach a device over MQTT. They are accepted
// only when signed by a trusted, unrevoked key, addressed to this device, fresh, and never
// seen before (their ids are kept in the journal). The operator CLI builds them with
// signCommand.

import { createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';
import { SlotflipError } from '../errors.js';
import { keyIdOf } from '../crypto/keys.js';
import { verifyTrusted, type TrustedKey } from '../crypto/trusted.js';

export const COMMAND_FORMAT = 'slotflip-command/1';
export const COMMAND_TYPES = ['rollback', 'reboot', 'cancel'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];
/** Clock skew tolerated between operator host and device. */
export const MAX_SKEW_MS = 5 * 60 * 1000;
export const DEFAULT_LIFETIME_MS = 10 * 60 * 1000;

export interface OperatorCommand {
  type: CommandType;
  deviceId: string;
  id: string;
  issued: string;
  expires: string;
}

export class CommandError extends SlotflipError {}

const fail = (code: string, message: string): CommandError => new CommandError(code, message);

export function signCommand(
  cmd: { type: CommandType; deviceId: string; lifetimeMs?: number; now?: Date },
  privateKeyPem: string | Buffer,
): Buffer {
  const key = createPrivateKey(privateKeyPem);
  const now = cmd.now ?? new Date();
  const body: OperatorCommand = {
    type: cmd.type,
    deviceId: cmd.deviceId,
    id: randomUUID(),
    issued: now.toISOString(),
    expires: new Date(now.getTime() + (cmd.lifetimeMs ?? DEFAULT_LIFETIME_MS)).toISOString(),
  };
  const bytes = Buffer.from(JSON.stringify(body));
  const envelope = {
    format: COMMAND_FORMAT,
    keyId: keyIdOf(createPublicKey(key)),
    command: bytes.toString('base64'),
    signature: sign(null, bytes, key).toString('base64'),
  };
  return Buffer.from(JSON.stringify(envelope));
}

export interface CommandCheck {
  deviceId: string;
  keys: readonly TrustedKey[];
  revoked: string[];
  seen: readonly string[];
  now?: Date;
}

/** Verifies an envelope and returns the command, or throws a CommandError with a code. */
export function verifyCommand(message: Uint8Array, check: CommandCheck): OperatorCommand {
  let env: { format?: unknown; keyId?: unknown; command?: unknown; signature?: unknown };
  try {
    env = JSON.parse(Buffer.from(message).toString('utf8'));
  } catch {
    throw fail('SF_ERR_COMMAND_FORMAT', 'command is not JSON');
  }
  if (typeof env !== 'object' || env === null || env.format !== COMMAND_FORMAT || typeof env.keyId !== 'string' || typeof env.command !== 'string' || typeof env.signature !== 'string') {
    throw fail('SF_ERR_COMMAND_FORMAT', `command envelope is not ${COMMAND_FORMAT}`);
  }
  const bytes = Buffer.from(env.command, 'base64');
  verifyTrusted(bytes, env.keyId, Buffer.from(env.signature, 'base64'), check.keys, check.revoked);
  let cmd: OperatorCommand;
  try {
    cmd = JSON.parse(bytes.toString('utf8')) as OperatorCommand;
  } catch {
    throw fail('SF_ERR_COMMAND_FORMAT', 'signed command is not JSON');
  }
  if (typeof cmd !== 'object' || cmd === null || !(COMMAND_TYPES as readonly string[]).includes(cmd.type) || typeof cmd.id !== 'string' || !cmd.id) {
    throw fail('SF_ERR_COMMAND_FORMAT', `not a command: ${JSON.stringify(cmd)?.slice(0, 80)}`);
  }
  if (cmd.deviceId !== check.deviceId) throw fail('SF_ERR_COMMAND_TARGET', `command is for ${cmd.deviceId}, not ${check.deviceId}`);
  const now = (check.now ?? new Date()).getTime();
  const issued = Date.parse(cmd.issued);
  const expires = Date.parse(cmd.expires);
  if (!Number.isFinite(issued) || !Number.isFinite(expires)) throw fail('SF_ERR_COMMAND_FORMAT', 'command times are not ISO-8601');
  if (issued > now + MAX_SKEW_MS || expires < now - MAX_SKEW_MS) throw fail('SF_ERR_COMMAND_EXPIRED', `command ${cmd.id} is not valid now (issued ${cmd.issued}, expires ${cmd.expires})`);
  if (check.seen.includes(cmd.id)) throw fail('SF_ERR_COMMAND_REPLAY', `command ${cmd.id} was already executed`);
  return cmd;
}
