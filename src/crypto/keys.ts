// Ed25519 signing keys: generation, PEM encoding, loading, and the short key id that
// manifests, signature files and trusted-key lists use to name a key.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as path from 'node:path';
import { realFs, type FileSystem } from '../platform/fs.js';
import { KeyError } from './errors.js';

export interface SigningKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const PRIVATE_KEY_FILE = 'private.pem';
export const PUBLIC_KEY_FILE = 'public.pem';

export function generateSigningKeyPair(): SigningKeyPair {
  return generateKeyPairSync('ed25519');
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyError(`${what} is a ${key.asymmetricKeyType ?? key.type} key, not Ed25519`);
  }
  return key;
}

/** The raw 32-byte Ed25519 public key (what the key id hashes). */
export function publicKeyRaw(publicKey: KeyObject): Buffer {
  const jwk = requireEd25519(publicKey, 'public key').export({ format: 'jwk' });
  const raw = Buffer.from(String(jwk.x), 'base64url');
  if (raw.length !== 32) throw new KeyError(`Ed25519 public key has ${raw.length} bytes, not 32`);
  return raw;
}

/** First 16 hex digits of the SHA-256 of the raw public key. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKeyRaw(publicKey)).digest('hex').slice(0, 16);
}

export function privateKeyPem(key: KeyObject): string {
  return requireEd25519(key, 'private key').export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function publicKeyPem(key: KeyObject): string {
  return requireEd25519(key, 'public key').export({ format: 'pem', type: 'spki' }).toString();
}

export function parsePrivateKeyPem(pem: string | Buffer, source = 'private key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new KeyError(`${source} is not a PEM private key`, { cause });
  }
  return requireEd25519(key, source);
}

/** Accepts a public key PEM (or a private one, whose public half is derived). */
export function parsePublicKeyPem(pem: string | Buffer, source = 'public key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (cause) {
    throw new KeyError(`${source} is not a PEM public key`, { cause });
  }
  return requireEd25519(key, source);
}

async function readKeyFile(fs: FileSystem, file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (cause) {
    throw new KeyError(`cannot read key file ${file}`, { cause, details: { file } });
  }
}

export async function loadPrivateKey(file: string, fs: FileSystem = realFs): Promise<KeyObject> {
  return parsePrivateKeyPem(await readKeyFile(fs, file), file);
}

export async function loadPublicKey(file: string, fs: FileSystem = realFs): Promise<KeyObject> {
  return parsePublicKeyPem(await readKeyFile(fs, file), file);
}

async function writeNew(fs: FileSystem, file: string, text: string, perm: number): Promise<void> {
  let fh;
  try {
    fh = await fs.open(file, 'exclusive', perm);
  } catch (cause) {
    throw new KeyError(`cannot create ${file}`, { cause, details: { file } });
  }
  try {
    await fh.write(Buffer.from(text), 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes DIR/private.pem (0600) and DIR/public.pem. Refuses when either exists: silently
 * replacing a signing key would orphan every device that trusts the old one.
 */
export async function writeKeyPair(dir: string, pair: SigningKeyPair, fs: FileSystem = realFs): Promise<{ privateFile: string; publicFile: string }> {
  const privateFile = path.join(dir, PRIVATE_KEY_FILE);
  const publicFile = path.join(dir, PUBLIC_KEY_FILE);
  for (const f of [privateFile, publicFile]) {
    if (await fs.exists(f)) throw new KeyError(`${f} exists; refusing to overwrite a key`, { details: { file: f } });
  }
  await fs.mkdir(dir);
  await writeNew(fs, privateFile, privateKeyPem(pair.privateKey), 0o600);
  await writeNew(fs, publicFile, publicKeyPem(pair.publicKey), 0o644);
  await fs.syncDir(dir);
  return { privateFile, publicFile };
}
