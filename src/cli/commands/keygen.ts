// `slotflip keygen --out DIR`: a new Ed25519 signing key pair, DIR/private.pem (0600) and
// DIR/public.pem. Never overwrites: a replaced key would orphan every device trusting the old.

import type { Command } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import { generateSigningKeyPair, keyIdOf, writeKeyPair } from '../../crypto/keys.js';

const options = {
  out: { type: 'string', short: 'o', arg: 'DIR', help: 'directory for private.pem and public.pem (created if missing)' },
  json: { type: 'boolean', help: 'print the result as JSON' },
} as const;
const USAGE = 'slotflip keygen --out DIR [--json]';

export const command: Command = {
  summary: 'create an Ed25519 signing key pair',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    const dir = required(args.values.out, '--out DIR');
    const pair = generateSigningKeyPair();
    const files = await writeKeyPair(dir, pair);
    const keyId = keyIdOf(pair.publicKey);
    if (args.values.json) {
      io.out.write(JSON.stringify({ ok: true, keyId, ...files }) + '\n');
    } else {
      io.out.write(`key id ${keyId}\nprivate key ${files.privateFile} (keep it secret; mode 0600)\npublic key  ${files.publicFile} (give this to devices as a trusted key)\n`);
    }
    return 0;
  },
};
