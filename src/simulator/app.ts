// App payloads for simulated devices and tests: the sample worker packed as a tar, with its
// version and optional test knobs (e.g. a worker that never gets ready).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { sampleWorkerPath } from './device.js';

export async function packFiles(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const [name, body] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, Buffer.from(body), (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The sample worker as an app payload of `version`; `knobs` become its knobs.json. */
export function sampleAppTar(version: string, knobs?: Record<string, string>): Promise<Buffer> {
  const files: Record<string, string | Buffer> = {
    'server.mjs': fs.readFileSync(sampleWorkerPath()),
    VERSION: `${version}\n`,
  };
  if (knobs) files['knobs.json'] = JSON.stringify(knobs);
  return packFiles(files);
}

export function sampleAppDir(): string {
  return path.dirname(sampleWorkerPath());
}
