// A throwaway X.509 CA and a signing certificate, made with openssl, for the tools that sign
// with CMS (RAUC bundles, SWUpdate's sw-description).

import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runTimed } from './system.js';

export interface Pki {
  caCert: string;
  cert: string;
  key: string;
}

export async function makePki(dir: string): Promise<Pki> {
  const f = (n: string): string => path.join(dir, n);
  await runTimed('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key.pem'), '-out', f('ca.cert.pem'), '-subj', '/CN=slotflip-bench-ca', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await runTimed('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('signer.key.pem'), '-out', f('signer.csr'), '-subj', '/CN=slotflip-bench-signer']);
  // emailProtection: the purpose SWUpdate checks by default; RAUC accepts it too.
  writeFileSync(f('signer.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n');
  await runTimed('openssl', ['x509', '-req', '-in', f('signer.csr'), '-CA', f('ca.cert.pem'), '-CAkey', f('ca.key.pem'), '-CAcreateserial', '-out', f('signer.cert.pem'), '-days', '30', '-extfile', f('signer.ext')]);
  return { caCert: f('ca.cert.pem'), cert: f('signer.cert.pem'), key: f('signer.key.pem') };
}
