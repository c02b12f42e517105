// Builds the console (console/) into console/dist, which the gateway serves at `/`. `npm install`
// runs this script after the CLI's build. Fails when what a part of the console loads, its
// JavaScript and CSS gzipped, exceeds the part's budget: the console itself is loaded on every
// visit, often over a plant's network; a page loaded lazily (the GraphQL explorer) only by those
// who open it, and is held to a budget of its own so that it cannot grow the console's.
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

/** Budgets in KiB gzipped: the console's page, and each module it loads lazily, by its path in console/. */
const BUDGETS_KIB = { 'index.html': 250, 'src/explorer.tsx': 200 };

const root = fileURLToPath(new URL('../console/', import.meta.url));
const [{ output }] = [await build({ configFile: `${root}vite.config.ts`, logLevel: 'warn' })].flat();
const files = new Map(output.map((file) => [file.fileName, file]));

/** The files loading `chunk` brings beside those already `loaded`: it, its CSS, and the chunks it imports. */
function loadedWith(chunk, loaded) {
  const found = new Set();
  const visit = (name) => {
    if (found.has(name) || loaded.has(name)) return;
    found.add(name);
    const file = files.get(name);
    for (const css of file.viteMetadata?.importedCss ?? []) found.add(css);
    for (const imported of file.imports) visit(imported);
  };
  visit(chunk.fileName);
  return found;
}

const chunks = output.filter((file) => file.type === 'chunk');
const page = loadedWith(
  chunks.find((chunk) => chunk.isEntry),
  new Set(),
);
const parts = [
  { name: 'index.html', files: page },
  ...chunks.filter((chunk) => chunk.isDynamicEntry).map((chunk) => ({ name: relative(root, chunk.facadeModuleId), files: loadedWith(chunk, page) })),
];

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
let over = false;
for (const { name, files: loaded } of parts) {
  let total = 0;
  for (const fileName of loaded) {
    const file = files.get(fileName);
    const gzipped = gzipSync(file.type === 'chunk' ? file.code : file.source).length;
    total += gzipped;
    console.log(`console: ${fileName} ${kib(gzipped)} gzipped`);
  }
  const budget = BUDGETS_KIB[name];
  console.log(`console: ${name} loads ${kib(total)} gzipped, budget ${budget ?? 'none'} KiB`);
  if (budget === undefined || total > budget * 1024) {
    console.error(
      budget === undefined ? `console: ${name} has no budget in scripts/build-console.mjs` : `console: ${name} is over its budget of ${budget} KiB gzipped`,
    );
    over = true;
  }
}
if (over) process.exit(1);
