// Public face of the bundle part: the manifest format, creating bundles, opening them for
// install (signature first, payloads streamed), and whole-bundle verification.

export * from './errors.js';
export * from './manifest.js';
export * from './version.js';
export * from './signature.js';
export * from './verify.js';
export { openBundle, readEntry, MANIFEST_ENTRY, SIGNATURE_ENTRY, PAYLOAD_PREFIX, type OpenedBundle, type OpenOptions } from './open.js';
export { createBundle, scanPayload, buildManifest, type CreateOptions, type CreatedBundle, type PayloadSource } from './create.js';
export { verifyBundle, readBundleHeader, ChunkTableChecker, type VerifiedBundle, type BundleHeader } from './check.js';
export { StrictTarReader, checkEntryName, type TarEntry } from './tar-reader.js';
export { isAllZero, zeroCrc } from './zero.js';
