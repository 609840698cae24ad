// The retained manifest message: the exact signed manifest bytes and their detached signature
// in one binary message, so a device gets both atomically. The transfer does not judge the
// signature; the receiver hands both to the agent's acceptManifest callback.

import { MAX_MANIFEST_BYTES } from '../bundle/manifest.js';
import { FrameError } from './errors.js';

export const ENVELOPE_MAGIC = Buffer.from('SFMF', 'latin1');
export const ENVELOPE_VERSION = 1;
const HEADER_BYTES = 16;
/** Signatures are tiny (Ed25519: 64 bytes); the cap keeps a rogue message from costing memory. */
export const MAX_SIGNATURE_BYTES = 64 * 1024;

export interface ManifestEnvelope {
  manifestBytes: Buffer;
  sigBytes: Buffer;
}

export function encodeEnvelope(manifestBytes: Uint8Array, sigBytes: Uint8Array): Buffer {
  if (manifestBytes.length > MAX_MANIFEST_BYTES) throw new FrameError(`manifest of ${manifestBytes.length} bytes exceeds ${MAX_MANIFEST_BYTES}`);
  if (sigBytes.length > MAX_SIGNATURE_BYTES) throw new FrameError(`signature of ${sigBytes.length} bytes exceeds ${MAX_SIGNATURE_BYTES}`);
  const out = Buffer.alloc(HEADER_BYTES + manifestBytes.length + sigBytes.length);
  ENVELOPE_MAGIC.copy(out, 0);
  out.writeUInt8(ENVELOPE_VERSION, 4);
  out.writeUInt32BE(manifestBytes.length, 8);
  out.writeUInt32BE(sigBytes.length, 12);
  out.set(manifestBytes, HEADER_BYTES);
  out.set(sigBytes, HEADER_BYTES + manifestBytes.length);
  return out;
}

export function decodeEnvelope(input: Uint8Array): ManifestEnvelope {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < HEADER_BYTES) throw new FrameError(`manifest message of ${buf.length} bytes is shorter than its header`);
  if (Buffer.compare(buf.subarray(0, 4), ENVELOPE_MAGIC) !== 0) throw new FrameError('manifest message does not start with SFMF');
  const version = buf.readUInt8(4);
  if (version !== ENVELOPE_VERSION) throw new FrameError(`manifest message version ${version} is not supported`);
  const mlen = buf.readUInt32BE(8);
  const slen = buf.readUInt32BE(12);
  if (mlen > MAX_MANIFEST_BYTES || slen > MAX_SIGNATURE_BYTES) throw new FrameError('manifest message declares an oversize manifest or signature');
  if (HEADER_BYTES + mlen + slen !== buf.length) throw new FrameError(`manifest message is ${buf.length} bytes but declares ${HEADER_BYTES + mlen + slen}`);
  // Copies: the agent may keep these after the MQTT packet is gone.
  return {
    manifestBytes: Buffer.from(buf.subarray(HEADER_BYTES, HEADER_BYTES + mlen)),
    sigBytes: Buffer.from(buf.subarray(HEADER_BYTES + mlen)),
  };
}
