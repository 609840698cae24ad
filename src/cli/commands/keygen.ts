// `slotflip keygen --out DIR`: a new Ed25519 signing key pair, DIR/private.pem (0600) and
// DIR/public.pem. Never overwrites: a replaced key would orphan every device trusting the old.
// With --endorse-with OLD.pem it also writes DIR/endorsement.json, the old key vouching for the
// new one (key rotation; pass it to `bundle create --endorsement`).

import type { Command } from '../commands.js';
import { parse, helpText, required } from '../args.js';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { realFs, writeFileAtomic } from '../../platform/fs.js';
import { generateSigningKeyPair, keyIdOf, loadPrivateKey, writeKeyPair } from '../../crypto/keys.js';
import { endorseKey, serializeEndorsement } from '../../bundle/endorsement.js';

export const ENDORSEMENT_FILE = 'endorsement.json';

const options = {
  out: { type: 'string', short: 'o', arg: 'DIR', help: 'directory for private.pem and public.pem (created if missing)' },
  'endorse-with': { type: 'string', arg: 'OLD.pem', help: 'private key of a trusted key that endorses the new one (writes DIR/endorsement.json)' },
  'endorse-until': { type: 'string', arg: 'ISO-8601', help: 'time after which the endorsement no longer counts' },
  json: { type: 'boolean', help: 'print the result as JSON' },
} as const;
const USAGE = 'slotflip keygen --out DIR [--endorse-with OLD_PRIVATE.pem [--endorse-until ISO-8601]] [--json]';

export const command: Command = {
  summary: 'create an Ed25519 signing key pair',
  async run(argv, io) {
    const args = parse(argv, options, { positionals: false });
    if (args.help) return io.out.write(helpText(USAGE, options)), 0;
    const dir = required(args.values.out, '--out DIR');
    const until = args.values['endorse-until'];
    let notAfter: Date | undefined;
    if (until !== undefined) {
      if (args.values['endorse-with'] === undefined) throw new UsageError('--endorse-until needs --endorse-with OLD.pem');
      notAfter = new Date(until);
      if (Number.isNaN(notAfter.getTime()) || notAfter.getTime() <= Date.now()) throw new UsageError(`--endorse-until ${until}: not an ISO-8601 time in the future`);
    }
    // Load the old key before writing anything, so a wrong path leaves no half-made key dir.
    const oldKey = args.values['endorse-with'] !== undefined ? await loadPrivateKey(args.values['endorse-with']) : undefined;
    const pair = generateSigningKeyPair();
    const endorsement = oldKey ? endorseKey(pair.publicKey, oldKey, notAfter ? { notAfter } : {}) : undefined;
    const files = await writeKeyPair(dir, pair);
    const keyId = keyIdOf(pair.publicKey);
    let endorsementFile: string | undefined;
    if (endorsement) {
      endorsementFile = path.join(dir, ENDORSEMENT_FILE);
      await writeFileAtomic(realFs, endorsementFile, serializeEndorsement(endorsement));
    }
    if (args.values.json) {
      io.out.write(JSON.stringify({ ok: true, keyId, ...files, ...(endorsement ? { endorsementFile, endorsedBy: endorsement.keyId } : {}) }) + '\n');
    } else {
      io.out.write(`key id ${keyId}\nprivate key ${files.privateFile} (keep it secret; mode 0600)\npublic key  ${files.publicFile} (give this to devices as a trusted key)\n`);
      if (endorsement) io.out.write(`endorsement ${endorsementFile} (key ${endorsement.keyId} vouches for ${keyId}${endorsement.notAfter ? ` until ${endorsement.notAfter}` : ''}; use bundle create --endorsement)\n`);
    }
    return 0;
  },
};
