#!/usr/bin/env node
// The `twinx` command. It runs compiled (.twinx/cli, see scripts/build-cli.mjs) while that is
// newer than every source it was compiled from; otherwise the TypeScript itself, through tsx.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const compiled = `${root}.twinx/cli/main.js`;

function compiledIsCurrent() {
  try {
    const built = statSync(compiled).mtimeMs;
    const inputs = JSON.parse(readFileSync(`${root}.twinx/cli/inputs.json`, 'utf8'));
    return inputs.every((file) => statSync(`${root}${file}`).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (compiledIsCurrent()) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
