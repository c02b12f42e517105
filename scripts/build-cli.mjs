// Compiles the `twinx` command (cli/main.ts and all it loads) to JavaScript in .twinx/cli, one
// chunk per command loaded on demand, so that commands start without compiling TypeScript.
// bin/twinx.mjs runs it while it is newer than every file it was compiled from. `npm install`
// runs this script; so does `npm run build` after a change.
import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
// Two levels below the repository, as every source is: `new URL('../../', import.meta.url)` in
// them still names the repository.
const outdir = '.twinx/cli';
rmSync(`${root}${outdir}`, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: ['cli/main.ts'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(`${root}${outdir}/inputs.json`, `${JSON.stringify(Object.keys(metafile.inputs))}\n`);
