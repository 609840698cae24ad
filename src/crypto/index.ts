// Public face of the crypto part: Ed25519 keys and detached signatures, trusted key sets,
// SHA-256 while streaming, and CRC-32.

export * from './errors.js';
export * from './keys.js';
export * from './sign.js';
export * from './hash.js';
export * from './crc.js';
export * from './trusted.js';
