// Builds the console (console/) into console/dist, which the gateway serves at `/`. `npm install`
// runs this script after the CLI's build. Fails when the console's gzipped JavaScript and CSS
// together exceed the budget: the console is loaded on every visit, often over a plant's network.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const BUDGET_KIB = 250;

const root = fileURLToPath(new URL('../console/', import.meta.url));
await build({ configFile: `${root}vite.config.ts`, logLevel: 'warn' });

const assets = `${root}dist/assets/`;
const sizes = readdirSync(assets)
  .filter((name) => /\.(js|css)$/.test(name))
  .map((name) => ({ name, gzipped: gzipSync(readFileSync(assets + name)).length }));
const total = sizes.reduce((sum, { gzipped }) => sum + gzipped, 0);
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
for (const { name, gzipped } of sizes) console.log(`console: ${name} ${kib(gzipped)} gzipped`);
console.log(`console: ${kib(total)} gzipped in all, budget ${BUDGET_KIB} KiB`);
if (total > BUDGET_KIB * 1024) {
  console.error(`console: over the budget of ${BUDGET_KIB} KiB gzipped`);
  process.exit(1);
}
