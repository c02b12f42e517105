import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TWINS } from '../../demo/seed.ts';
import { launchBrowser, openPage, type ConsolePage } from '../support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../support/console-network.ts';
import { Disposers, eventually } from '../support/services.ts';
import { subscriptionsServed } from '../support/subscriptions.ts';

/** The console's map on a network of hundreds of twins, and what people read when the network fails them. */

const disposers = new Disposers();
let network: ConsoleNetwork;
let browser: Browser;

/** Twins added to each organization of the demo's network, each ACME one supplied by a Globex one. */
const PER_ORG = 200;
const BULK: Record<string, { kind: string; supplier?: string }> = {
  initech: { kind: 'caster' },
  globex: { kind: 'mill' },
  acme: { kind: 'station', supplier: 'globex' },
};
const bulkId = (org: string, i: number) => `${org}:bulk-${String(i).padStart(3, '0')}`;

const DEMO_IDS = Object.values(DEMO_TWINS)
  .flat()
  .map((twin) => twin.id as string);
const ALL_IDS = [...DEMO_IDS, ...Object.keys(BULK).flatMap((org) => Array.from({ length: PER_ORG }, (_, i) => bulkId(org, i)))];

const mapTwins = (tab: ConsolePage) => tab.page.locator('[data-testid=map-twins] [data-twin-id]');
const listed = async (tab: ConsolePage) => (await mapTwins(tab).evaluateAll((items) => items.map((item) => item.getAttribute('data-twin-id')!))).sort();
/** Waits for the map to count `shown` twins of `all`. */
const counted = (tab: ConsolePage, shown: number, all = ALL_IDS.length) =>
  tab.page
    .getByTestId('map-count')
    .filter({ hasText: `Twins shown (${shown} of ${all})` })
    .waitFor();

/** The ACME engineer (every supplier's grant to ACME) on the map. */
async function openMap(): Promise<ConsolePage> {
  const tab = await openPage(browser, new URL('/map', network.consoleUrl).href);
  await tab.page.getByTestId('persona-acme-engineer').click();
  await counted(tab, ALL_IDS.length);
  return tab;
}

beforeAll(async () => {
  network = await startConsoleNetwork(disposers);
  for (const [org, { kind, supplier }] of Object.entries(BULK)) {
    await network.addTwins(
      org,
      Array.from({ length: PER_ORG }, (_, i) => ({
        id: bulkId(org, i),
        name: `${kind} ${i}`,
        kind,
        tags: ['bulk', i % 2 === 0 ? 'bulk-even' : 'bulk-odd'],
        suppliedByIds: supplier ? [bulkId(supplier, i)] : [],
      })),
    );
  }
  await network.net.catalogHas(ALL_IDS);
  browser = await launchBrowser(disposers);
}, 180_000);
afterAll(() => disposers.dispose());

describe('the map of a larger network', () => {
  it('shows every twin, lists the first ones, and the filters list the others', async () => {
    const tab = await openMap();
    await tab.page.getByTestId('map').locator('canvas').first().waitFor();
    // The list is capped, and says so; the map holds them all.
    const limit = Number(/the first (\d+)/.exec((await tab.page.getByTestId('map-list-limit').textContent())!)?.[1]);
    expect(limit).toBeLessThan(ALL_IDS.length);
    expect(await mapTwins(tab).count()).toBe(limit);

    await tab.page.getByTestId('filter-org').selectOption('globex');
    const globex = ALL_IDS.filter((id) => id.startsWith('globex:'));
    await counted(tab, globex.length);
    expect(await listed(tab)).toEqual(globex.sort());
    expect(await tab.page.getByTestId('map-list-limit').count()).toBe(0);

    await tab.page.getByTestId('filter-org').selectOption('');
    await tab.page.getByTestId('filter-kind').selectOption('caster');
    await counted(tab, PER_ORG);
    expect(await listed(tab)).toEqual(ALL_IDS.filter((id) => id.startsWith('initech:bulk-')).sort());

    await tab.page.getByTestId('filter-tag').fill('bulk-odd');
    await counted(tab, PER_ORG / 2);
    expect((await listed(tab)).every((id) => id.startsWith('initech:bulk-') && Number(id.slice(-3)) % 2 === 1)).toBe(true);

    await tab.page.getByTestId('filter-kind').selectOption('');
    await tab.page.getByTestId('filter-tag').fill('');
    await tab.page.getByTestId('filter-status').selectOption('UNKNOWN');
    // Twins without readings have no status yet: the bulk ones, none of them ingested.
    const unknown = Number(/\((\d+) of/.exec((await tab.page.getByTestId('map-count').textContent())!)?.[1]);
    expect(unknown).toBeGreaterThanOrEqual(3 * PER_ORG);
    expect(await mapTwins(tab).evaluateAll((items) => items.every((item) => item.getAttribute('data-status') === 'UNKNOWN'))).toBe(true);
  }, 120_000);
});

describe('errors as people understand them', () => {
  it('pauses live updates while the gateway is away, says so, and says no more once they are back', async () => {
    const tab = await openMap();
    // The browser reports the connections refused while the gateway is down.
    tab.expect(/WebSocket connection to .* failed/);
    expect(await tab.page.getByTestId('reconnecting').count()).toBe(0);
    await network.restartGateway(async () => {
      await tab.page.getByTestId('reconnecting').filter({ hasText: 'Live updates paused: reconnecting' }).waitFor();
    });
    await tab.page.getByTestId('reconnecting').waitFor({ state: 'detached' });
    // Live again once the map's two feeds are served by the gateway back: then a reading out of the CNC mill's range (15–45 °C) puts it in alert on the open map, its alarm marked.
    await eventually(async () => expect(await subscriptionsServed(network.gateway.url)).toBeGreaterThanOrEqual(2));
    await network.publishReading('acme:cnc-1', 'temperature', 90);
    await tab.page.locator('[data-twin-id="acme:cnc-1"][data-status=ALERT] [data-testid=twin-alarm]').waitFor();
  }, 120_000);

  it('names the organization that is down, by its name', async () => {
    await network.net.orgs.globex!.stop();
    const tab = await openPage(browser, new URL('/map', network.consoleUrl).href);
    await tab.page.getByTestId('persona-acme-engineer').click();
    await tab.page.getByTestId('error').filter({ hasText: 'Globex Steel is unavailable' }).waitFor();
    // The rest of the network still shows: the other organizations' twins are listed.
    await tab.page.locator('[data-testid=map-twins] [data-twin-id="acme:cnc-1"]').waitFor();
    // A twin of the organization down opens, saying what it cannot know.
    await tab.page.goto(new URL('/twins/globex:mill-1', network.consoleUrl).href);
    await tab.page.getByText("Not known while the twin's organization is unavailable.").first().waitFor();
  }, 120_000);
});
