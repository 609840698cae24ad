// `slotflip publish BUNDLE --broker URL`: serve a release to devices over MQTT, with a
// progress bar per device, until each targeted device committed or failed (--wait), and exit
// non-zero if any did not commit.

import type { Command } from '../commands.js';
import { parse, helpText } from '../args.js';
import { connectOperator, fleetOptions } from '../fleet.js';
import { createProgress, type Progress } from '../progress.js';
import { publishBundle } from '../../operator/publish.js';
import { loadTrustedKeys } from '../../crypto/index.js';
import { UsageError } from '../../errors.js';
import { setNoDelay } from '../../transfer/mqtt.js';

const options = {
  ...fleetOptions,
  devices: { type: 'string', arg: 'ID,...', help: 'only these devices' },
  group: { type: 'string', arg: 'NAME', help: 'only devices of this group' },
  wait: { type: 'boolean', help: 'exit once every targeted device committed or failed' },
  timeout: { type: 'string', arg: 'SECONDS', help: 'give up after this long (default 3600)' },
  pubkey: { type: 'string', multiple: true, arg: 'PUB.pem', help: 'verify the bundle signature before serving' },
  json: { type: 'boolean', help: 'print the outcome as JSON' },
} as const;
const USAGE = 'slotflip publish BUNDLE --broker URL [--devices ID,...|--group NAME] [--wait] [--timeout S]';

export const command: Command = {
  summary: 'serve a bundle to devices over MQTT and follow them to commit or rollback',
  async run(argv, io) {
    const args = parse(argv, options);
    const v = args.values;
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    if (args.positionals.length !== 1) throw new UsageError(`expected one bundle\n${USAGE}`);
    const timeout = Number(v.timeout ?? 3600);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout takes a number of seconds');
    const client = await connectOperator(v, io.env);
    setNoDelay(client);
    const bars = new Map<string, Progress>();
    try {
      const result = await publishBundle({
        client,
        bundle: args.positionals[0]!,
        ...(v['topic-prefix'] ? { prefix: v['topic-prefix'] } : {}),
        ...(v.devices ? { devices: v.devices.split(',').filter(Boolean) } : {}),
        ...(v.group ? { group: v.group } : {}),
        ...(v.pubkey.length ? { trustedKeys: await loadTrustedKeys(v.pubkey) } : {}),
        timeoutMs: timeout * 1000,
        wait: v.wait,
        onProgress: (p) => {
          if (v.json) return;
          let bar = bars.get(p.device);
          if (!bar) bars.set(p.device, (bar = createProgress(io.err, p.device.padEnd(12), p.totalBytes)));
          bar.update(p.bytes);
        },
        onOutcome: (device, outcome, r) => {
          if (!v.json) io.out.write(`${device}: ${outcome}${r?.lastError && outcome !== 'committed' ? ` (${r.lastError.code}: ${r.lastError.message})` : ''}\n`);
        },
      });
      const failed = [...result.outcomes].filter(([, o]) => o !== 'committed');
      if (v.json) {
        io.out.write(JSON.stringify({ ok: failed.length === 0, releaseId: result.releaseId, version: result.version, outcomes: Object.fromEntries(result.outcomes), bytesSent: result.bytesSent, imageBytes: result.imageBytes }) + '\n');
      } else {
        io.out.write(`release ${result.version} (${result.releaseId}): ${result.outcomes.size - failed.length} of ${result.outcomes.size} devices committed; sent ${(result.bytesSent / Math.max(1, result.imageBytes)).toFixed(2)}× the image size\n`);
      }
      return failed.length ? 1 : 0;
    } finally {
      await client.endAsync();
    }
  },
};
