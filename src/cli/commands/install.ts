// `slotflip install BUNDLE|-`: the whole firmware path without a network. Signature first,
// then board/version checks, then the inactive slot, read-back, and one env write arming the
// trial boot.

import { createReadStream, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from '../commands.js';
import { parse, helpText } from '../args.js';
import { deviceFromArgs, deviceOptions } from '../device-options.js';
import { createProgress, formatBytes } from '../progress.js';
import { loadTrustedKeys } from '../../crypto/index.js';
import { openBundle } from '../../bundle/index.js';
import { findPayload, releaseId } from '../../bundle/manifest.js';
import { blameReadback, installBundle, OFF_THREAD_MIN, ROOTFS } from '../../install/firmware.js';
import { DigestWorker } from '../../slots/digest.js';
import type { SourceRange } from '../../slots/writer.js';
import type { FileHandle } from '../../platform/fs.js';
import { directPayloads } from '../../bundle/direct.js';
import { BundleFormatError } from '../../bundle/errors.js';
import { UsageError } from '../../errors.js';

const options = { ...deviceOptions, 'no-progress': { type: 'boolean', help: 'no progress bar' } } as const;
const USAGE = 'slotflip install BUNDLE|- [--config DEVICE.json] [--json]';

export const command: Command = {
  summary: 'install a bundle into the inactive slot and arm the trial boot',
  async run(argv, io) {
    const args = parse(argv, options);
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    if (args.positionals.length !== 1) throw new UsageError(`expected one bundle path or -\n${USAGE}`);
    const file = args.positionals[0]!;
    const dev = deviceFromArgs(args.values.config, io.env);
    const keys = await loadTrustedKeys(dev.config.trustedKeys, dev.config.revokedKeys);
    // Reads of the board's buffer size (1 MiB by default), not fs streams' 64 KiB: a read is a
    // trip through the thread pool, and 4096 of them per 256 MiB cost more than the copy itself.
    const input = file === '-' ? (io.stdin as NodeJS.ReadableStream & import('node:stream').Readable) : createReadStream(file, { highWaterMark: dev.config.bufferSize });
    // From a file, the rootfs is taken unhashed: the read-back's SHA-256 proves it, and only a
    // failed read-back hashes the file's payload to tell a damaged bundle from a bad slot
    // (blameReadback). From stdin nothing can be read twice, so the stream is hashed as well.
    // Big payloads are hashed on a worker thread, so the main thread only moves data; started
    // now, it boots while the manifest is checked. A single-core board gains nothing from the
    // worker and would pay its ~10 MiB.
    const digests = availableParallelism() > 1 ? new DigestWorker() : undefined;
    let result;
    let bars;
    try {
      // Only a regular file can be read twice (a FIFO or /dev/stdin cannot): the others go as stdin does.
      const stat = file !== '-' ? statSync(file, { throwIfNoEntry: false }) : undefined; // a missing file: the read below reports it, typed
      const regular = stat?.isFile() === true;
      if ((stat?.size ?? 0) >= OFF_THREAD_MIN) digests?.warm();
      const bundle = await openBundle(input, {
        trustedKeys: keys,
        revokedKeys: dev.config.revokedKeys,
        payloadHasher: (entry) => (digests && entry.size >= OFF_THREAD_MIN ? digests.hasher(dev.config.bufferSize) : undefined),
        unhashed: (entry) => regular && entry.name === ROOTFS,
      });
      const showProgress = !args.values.json && !args.values['no-progress'];
      const total = bundle.manifest.payloads.find((p) => p.name === 'rootfs')?.size ?? 0;
      const b = (bars = { write: createProgress(io.err, 'write ', total, showProgress), verify: createProgress(io.err, 'verify', total, showProgress) });
      let source: FileHandle | undefined;
      try {
        // A bundle file laid out as `bundle create` writes it: the rootfs is copied straight from
        // its offset (no tar stream, no copy between reads and writes). Anything else: the stream.
        const range = regular ? (await directPayloads(dev.fs, file, bundle.manifest, bundle.manifestBytes))?.get(ROOTFS) : undefined;
        let rootfsRange: SourceRange | undefined;
        if (range) {
          await bundle.close();
          source = await dev.fs.open(file, 'read');
          rootfsRange = {
            handle: source,
            offset: range.offset,
            length: range.size,
            truncated: (missing) => new BundleFormatError(`${file} ends ${missing} bytes before the end of its rootfs payload (changed while it was read)`),
          };
        }
        result = await installBundle(dev, bundle, releaseId(bundle.manifestBytes), (phase, done) => b[phase].update(done), { digests, rootfsRange });
      } catch (err) {
        const rootfs = findPayload(bundle.manifest, ROOTFS);
        throw regular && rootfs ? await blameReadback(dev.fs, file, rootfs, dev.config.bufferSize, err) : err;
      } finally {
        await bundle.close();
        await source?.close();
      }
    } finally {
      await digests?.close();
    }
    bars.write.finish();
    bars.verify.finish();
    if (args.values.json) {
      io.out.write(JSON.stringify({ ok: true, ...result, trialArmed: true }) + '\n');
    } else {
      const rate = result.seconds > 0 ? `${formatBytes(result.bytes / result.seconds)}/s` : '';
      io.out.write(
        `installed ${result.version} (release ${result.releaseId}) into slot ${result.slot}: ${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s ${rate}\n` +
          `trial boot armed: reboot to try slot ${result.slot}; the agent commits it once the worker is healthy (or run slotflip mark-good)\n`,
      );
    }
    return 0;
  },
};
