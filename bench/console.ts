// The console in Chromium, on the demo's network and on a large one (3 organizations x 1,000 twins
// with supply links across them), each measure beside a baseline from the same run:
// - first contentful paint of the console, next to a static page served by the same gateway;
// - sign-in click to the map listing every twin, next to Node paging the same twins with the same query;
// - a reading to its status on the open map, next to a Node subscription to the same twin's states;
// - revokeGrant to the partner's map without the grant's twins, next to a Node subscription ending REVOKED;
// - the bundle, gzipped, next to its budget.
//   npm run bench:console [-- --loads 7 --changes 10 --revocations 3]
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BUILT_CONSOLE_DIR } from '../gateway/console/serve.ts';
import { createGateway } from '../gateway/server.ts';
import { DEMO_TWINS } from '../demo/seed.ts';
import { CHROMIUM } from '../test/support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../test/support/console-network.ts';
import { bearer } from '../test/support/org.ts';
import { Disposers } from '../test/support/services.ts';
import { connect, subscribe } from '../test/support/subscriptions.ts';
import { percentile } from './support.ts';

const { values: args } = parseArgs({
  options: { loads: { type: 'string', default: '7' }, changes: { type: 'string', default: '10' }, revocations: { type: 'string', default: '3' } },
});
const [loads, changes, revocations] = [Number(args.loads), Number(args.changes), Number(args.revocations)];
const PER_ORG = 1000;
/** The budget scripts/build-console.mjs holds the console's page to, in KiB gzipped. */
const BUDGET_KIB = 250;
/** The grants to ACME select Globex's mills and every Initech twin: the large network's twins are of those. */
const LARGE: Record<string, { kind: string; suppliers: string[] }> = {
  initech: { kind: 'caster', suppliers: [] },
  globex: { kind: 'mill', suppliers: ['initech'] },
  acme: { kind: 'station', suppliers: ['globex', 'initech'] },
};
const largeId = (org: string, i: number) => `${org}:large-${String(i).padStart(4, '0')}`;
/** The map's query (console/src/network.ts), from Node. */
const PAGE = `query MapTwins($after: String) {
  twins(first: 50, after: $after) { edges { node { id name kind tags org { slug name } state { status } suppliedBy { id } } } pageInfo { hasNextPage endCursor } }
}`;

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
/** Prints one measure (its median) beside its baseline's, as soon as it is measured. */
function row(measure: string, values: number[], baseline: string, bases: number[], unit = 'ms'): void {
  const [value, base] = [median(values), median(bases)];
  const digits = unit === 'ms' ? 0 : 1;
  console.log(
    `${`${measure} (${unit})`.padEnd(62)} ${value.toFixed(digits).padStart(8)}   ${baseline.padEnd(34)} ${base.toFixed(digits).padStart(8)} ${`${(value / base).toFixed(2)}x`.padStart(7)}`,
  );
}

async function time(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** First contentful paint of `url` in a fresh context (nothing cached), in ms. */
async function firstPaint(browser: Browser, url: string): Promise<number> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'load' });
    // Run in the page, whose PerformanceObserver knows paint entries (Node's types do not).
    return await page.evaluate<number>(`new Promise((resolve) => new PerformanceObserver((list) => {
      const paint = list.getEntriesByName('first-contentful-paint')[0];
      if (paint) resolve(paint.startTime);
    }).observe({ type: 'paint', buffered: true }))`);
  } finally {
    await context.close();
  }
}

/** A page signed in with these tokens, on the map listing `count` twins; the time from the sign-in click to that. */
async function mapOf(browser: Browser, network: ConsoleNetwork, token: string, grants: string[], count: number): Promise<{ page: Page; ms: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(new URL('/map', network.consoleUrl).href);
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-grants').fill(grants.join('\n'));
  const ms = await time(async () => {
    await page.getByTestId('signin-submit').click();
    await page
      .getByTestId('map-count')
      .filter({ hasText: `Twins shown (${count} of ${count})` })
      .waitFor({ timeout: 300_000 })
      .catch(async (error: unknown) => {
        throw new Error(`the map did not list ${count} twins: ${(await page.locator('main').innerText()).slice(0, 500)}`, { cause: error });
      });
  });
  return { page, ms };
}

/** Node reading the same twins a page at a time, as the map does. */
async function pageThrough(url: string, headers: Record<string, string>, count: number): Promise<void> {
  let after: string | null = null;
  let read = 0;
  for (;;) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: PAGE, variables: { after } }),
    });
    const { data, errors } = (await response.json()) as { data?: any; errors?: unknown };
    if (errors || !data) throw new Error(`unexpected answer: ${JSON.stringify(errors).slice(0, 300)}`);
    read += data.twins.edges.length;
    if (!data.twins.pageInfo.hasNextPage) break;
    after = data.twins.pageInfo.endCursor;
  }
  if (read !== count) throw new Error(`read ${read} twins, not ${count}`);
}

/** Map loads and their Node baselines, `loads` times each. */
async function mapLoads(browser: Browser, network: ConsoleNetwork, grants: string[], count: number, label: string) {
  const [maps, nodes]: [number[], number[]] = [[], []];
  for (let i = 0; i < loads; i++) {
    const { page, ms } = await mapOf(browser, network, network.engineerToken, grants, count);
    maps.push(ms);
    await page.context().close();
    nodes.push(await time(() => pageThrough(network.gateway.url, bearer(network.engineerToken, grants), count)));
  }
  row(`sign-in click to the map listing ${label}`, maps, 'Node paging the same twins', nodes);
}

/** A reading changing a twin's status, to the open map and to a Node subscription at once, `changes` times. */
async function liveChanges(browser: Browser, network: ConsoleNetwork, grants: string[], count: number, label: string) {
  const { page } = await mapOf(browser, network, network.engineerToken, grants, count);
  const client = connect(network.gateway.url, bearer(network.engineerToken, grants));
  const states = subscribe(client, `subscription { twinEvents(filter: { twinIds: ["acme:cnc-1"], types: [STATE] }) { state { status } } }`);
  const [maps, nodes]: [number[], number[]] = [[], []];
  try {
    // In and out of the CNC mill's range (15–45 °C): every reading changes its status.
    for (let i = 0; i < changes; i++) {
      const [value, status] = i % 2 === 0 ? [90, 'ALERT'] : [30, 'OK'];
      const start = performance.now();
      const node = states.next().then(() => performance.now() - start);
      await network.publishReading('acme:cnc-1', 'temperature', value);
      await page.locator(`[data-twin-id="acme:cnc-1"][data-status=${status}]`).waitFor();
      maps.push(performance.now() - start);
      nodes.push(await node);
    }
  } finally {
    await client.dispose();
    await page.context().close();
  }
  row(`reading to its status on the open map (${label})`, maps, 'Node subscription to its states', nodes);
}

/** revokeGrant to the partner's open map without the grant's twins, next to a Node subscription with the grant ending. */
async function grantRevocations(browser: Browser, network: ConsoleNetwork) {
  const [maps, nodes]: [number[], number[]] = [[], []];
  const demo = Object.values(DEMO_TWINS).flat().length;
  for (let i = 0; i < revocations; i++) {
    const globex = await network.grant('globex');
    const grants = [globex.token, network.grants.initech!.token];
    const { page } = await mapOf(browser, network, network.engineerToken, grants, demo);
    const client = connect(network.gateway.url, bearer(network.engineerToken, grants));
    const feed = subscribe(client, `subscription { twinEvents(filter: { orgs: ["globex"] }) { twinId } }`);
    try {
      const start = performance.now();
      const node = feed.next().then((result) => {
        if (result.errors?.[0]?.extensions?.reason !== 'REVOKED') throw new Error(`unexpected result: ${JSON.stringify(result)}`);
        return performance.now() - start;
      });
      const revoked = await network.asAdmin('globex', `mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { jti } } }`, { jti: globex.jti });
      if (revoked.errors) throw new Error(JSON.stringify(revoked.errors));
      await page.locator('[data-testid=map-twins] [data-twin-id^="globex:"]').first().waitFor({ state: 'detached' });
      maps.push(performance.now() - start);
      nodes.push(await node);
    } finally {
      await client.dispose();
      await page.context().close();
    }
  }
  row('revokeGrant to the partner’s map losing its twins (demo)', maps, 'Node subscription ending REVOKED', nodes);
}

/**
 * What the console's page loads, gzipped, in KiB: the JavaScript and CSS its `index.html` names
 * (Vite names every chunk the page imports statically there); pages loaded lazily are not in it.
 */
async function bundleKiB(): Promise<number> {
  const page = await readFile(join(BUILT_CONSOLE_DIR, 'index.html'), 'utf8');
  const names = new Set([...page.matchAll(/\/assets\/([^"']+\.(?:js|css))/g)].map((match) => match[1]!));
  const sizes = await Promise.all([...names].map(async (name) => gzipSync(await readFile(join(BUILT_CONSOLE_DIR, 'assets', name))).length));
  return sizes.reduce((sum, size) => sum + size, 0) / 1024;
}

const disposers = new Disposers();
try {
  const network = await startConsoleNetwork(disposers);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  disposers.add(() => browser.close());
  const grants = Object.values(network.grants).map((grant) => grant.token);
  const demo = Object.values(DEMO_TWINS).flat().length;
  console.log(`\nconsole in Chromium (medians of ${loads} loads, ${changes} status changes, ${revocations} revocations)`);
  console.log(`${'measure'.padEnd(62)} ${'value'.padStart(8)}   ${'baseline'.padEnd(34)} ${'value'.padStart(8)} ${'ratio'.padStart(7)}`);
  row('console page loads, gzipped', [await bundleKiB()], 'budget', [BUDGET_KIB], 'KiB');

  // The console and a static page beside it, served by one gateway.
  const dir = await mkdtemp(join(tmpdir(), 'twinx-console-'));
  disposers.add(() => rm(dir, { recursive: true, force: true }));
  await cp(BUILT_CONSOLE_DIR, dir, { recursive: true });
  await writeFile(
    join(dir, 'static.html'),
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>twinx</title></head><body><h1>twinx</h1></body></html>',
  );
  const served = createGateway({ ...network.net.gatewayOptions, consoleDir: dir });
  await served.start();
  disposers.add(() => served.stop());
  const [consolePaints, staticPaints]: [number[], number[]] = [[], []];
  for (let i = 0; i < loads; i++) {
    consolePaints.push(await firstPaint(browser, served.consoleUrl!));
    staticPaints.push(await firstPaint(browser, new URL('/static.html', served.consoleUrl).href));
  }
  row('first contentful paint of the console', consolePaints, 'a static page, same gateway', staticPaints);

  await mapLoads(browser, network, grants, demo, `the demo's ${demo} twins`);
  await liveChanges(browser, network, grants, demo, 'demo');
  await grantRevocations(browser, network);

  const seeding = performance.now();
  for (const [org, { kind, suppliers }] of Object.entries(LARGE)) {
    await network.addTwins(
      org,
      Array.from({ length: PER_ORG }, (_, i) => ({
        id: largeId(org, i),
        name: `${kind} ${i}`,
        kind,
        tags: ['large', `line-${i % 10}`],
        suppliedByIds: suppliers.map((supplier) => largeId(supplier, (i * 7 + supplier.length) % PER_ORG)),
      })),
    );
  }
  const large = demo + Object.keys(LARGE).length * PER_ORG;
  await network.net.catalogHas([
    ...Object.values(DEMO_TWINS)
      .flat()
      .map((twin) => twin.id as string),
    ...Object.keys(LARGE).flatMap((org) => Array.from({ length: PER_ORG }, (_, i) => largeId(org, i))),
  ]);
  console.log(`large network seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
  await mapLoads(browser, network, grants, large, `${large} twins`);
  await liveChanges(browser, network, grants, large, `${large} twins`);
} finally {
  await disposers.dispose();
}
