// Builds the CLI with esbuild: dist/slotflip.mjs for the host (dependencies from
// node_modules) and dist/device/slotflip.mjs for devices (one file, Node 18, everything
// bundled but the host-only serialport and aedes).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const banner = {
  js: "#!/usr/bin/env node\nimport { createRequire as __sfCreateRequire } from 'node:module'; const require = __sfCreateRequire(import.meta.url);",
};
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node18', sourcemap: 'linked', logLevel: 'warning', banner };

await build({ ...common, entryPoints: ['src/cli/bin.ts'], outfile: 'dist/slotflip.mjs', packages: 'external' });
if (existsSync('src/index.ts')) {
  await build({ ...common, banner: { js: banner.js.split('\n')[1] }, entryPoints: ['src/index.ts'], outfile: 'dist/index.mjs', packages: 'external' });
}
await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: 'dist/device/slotflip.mjs',
  external: ['serialport', '@serialport/*', 'aedes', 'aedes-*', 'esbuild', 'tsx'],
  minify: true,
  legalComments: 'linked',
});
