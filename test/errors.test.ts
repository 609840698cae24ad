// docs/errors.md lists every SF_ERR_* code the sources can produce; this keeps them in step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

test('docs/errors.md lists exactly the codes used in src/', () => {
  const inSrc = new Set<string>();
  for (const f of walk('src').filter((f) => f.endsWith('.ts'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/'(SF_ERR_[A-Z0-9_]+)'/g)) inSrc.add(m[1]!);
  }
  const inDocs = new Set<string>();
  for (const m of readFileSync('docs/errors.md', 'utf8').matchAll(/^\| `(SF_ERR_[A-Z0-9_]+)` \|/gm)) inDocs.add(m[1]!);
  const undocumented = [...inSrc].filter((c) => !inDocs.has(c)).sort();
  const stale = [...inDocs].filter((c) => !inSrc.has(c)).sort();
  assert.deepEqual({ undocumented, stale }, { undocumented: [], stale: [] });
});
