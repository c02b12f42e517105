import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleSignIn, launchBrowser, openPage, type ConsolePage } from '../support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../support/console-network.ts';
import { Disposers } from '../support/services.ts';

/**
 * The console's impact page on the demo's network (its supply links, buffers and capacities, as
 * demo/seed.ts has them): Initech's furnace stopping for three days reaches ACME's assembly line
 * through the caster and the CNC mill (stopped 57–87 h) and through Globex's mill and the press
 * (half rate 88–94 h), as the README's walk-through says.
 */

const disposers = new Disposers();
let network: ConsoleNetwork;
let browser: Browser;
const { signInWith } = consoleSignIn(
  () => browser,
  () => network.consoleUrl,
);

/** Every twin the furnace's stop reaches, with the suppliers' grants. */
const HIT = ['acme:cnc-1', 'acme:line-1', 'acme:press-1', 'globex:mill-1', 'initech:caster-1', 'initech:furnace-1'];

/** A row of the table of twins hit. */
const row = (tab: ConsolePage, twinId: string) => tab.page.locator(`[data-testid=impact-table] tr[data-twin-id="${twinId}"]`);

/** The text of a row's cell. */
const cell = (tab: ConsolePage, twinId: string, testid: string) => row(tab, twinId).getByTestId(testid).textContent();

/** Stops the twin picked (or `twinId`, searched for by name) for 72 h from now, and waits for the answer's table. */
async function stopFor72Hours(tab: ConsolePage, search?: { text: string; twinId: string }) {
  if (search) {
    await tab.page.getByTestId('impact-twin-search').fill(search.text);
    await tab.page.getByTestId('impact-twin').selectOption(search.twinId);
  }
  await tab.page.getByTestId('impact-hours').fill('72');
  await tab.page.getByTestId('impact-run').click();
  await tab.page.getByTestId('impact-table').waitFor();
}

const rowIds = (tab: ConsolePage) =>
  tab.page.locator('[data-testid=impact-table] tr[data-twin-id]').evaluateAll((rows) => rows.map((one) => one.getAttribute('data-twin-id')!));

beforeAll(async () => {
  network = await startConsoleNetwork(disposers);
  browser = await launchBrowser(disposers);
}, 120_000);
afterAll(() => disposers.dispose());

// Each question goes across three organizations, hop by hop, and pages load in a shared browser: room for them.
describe('impact of a disruption', { timeout: 60_000 }, () => {
  it('shows ACME’s engineer who is hit downstream of Initech’s furnace, and when, in a table and a graph', async () => {
    const tab = await openPage(browser, new URL('/impact', network.consoleUrl).href);
    await tab.page.getByTestId('persona-acme-engineer').click();
    await tab.page.getByTestId('impact-twin-search').waitFor();
    await stopFor72Hours(tab, { text: 'furnace', twinId: 'initech:furnace-1' });
    expect(new URL(tab.page.url()).searchParams.get('twin')).toBe('initech:furnace-1');

    // Soonest first: the furnace itself, the castings' chain to the line, then the coils' chain.
    expect(await rowIds(tab)).toEqual(['initech:furnace-1', 'initech:caster-1', 'acme:cnc-1', 'acme:line-1', 'globex:mill-1', 'acme:press-1']);
    expect(await row(tab, 'acme:line-1').locator('td').first().textContent()).toBe('3');
    expect(await cell(tab, 'acme:line-1', 'hit-in')).toBe('57 h');
    expect(await cell(tab, 'acme:line-1', 'hit-for')).toBe('37 h');
    expect(await cell(tab, 'acme:line-1', 'hit-lost')).toBe('100 %');
    expect(await cell(tab, 'acme:line-1', 'hit-units')).toBe('660 vehicles');
    expect(await cell(tab, 'acme:line-1', 'hit-via')).toBe('CNC mill 1');
    expect(await cell(tab, 'acme:line-1', 'hit-losses')).toBe('57–87 h: 100 % · 88–94 h: 50 %');
    expect(await cell(tab, 'initech:furnace-1', 'hit-units')).toBe('360 t');

    // The graph holds a node for each twin hit, coloured by how soon.
    await tab.page.getByTestId('impact-graph').locator('canvas').first().waitFor();
    const nodes = tab.page.locator('[data-testid=impact-graph-nodes] [data-node-id]');
    expect((await nodes.evaluateAll((items) => items.map((item) => item.getAttribute('data-node-id')!))).sort()).toEqual(HIT);
    expect(await nodes.and(tab.page.locator('[data-node-id="acme:line-1"]')).getAttribute('data-urgency')).toBe('days');
    expect(await nodes.and(tab.page.locator('[data-node-id="acme:line-1"]')).textContent()).toContain('hit in 57 h, for 37 h');
    expect(await nodes.and(tab.page.locator('[data-node-id="initech:furnace-1"]')).getAttribute('data-urgency')).toBe('source');
    expect(await tab.page.getByTestId('impact-unknown').count()).toBe(0);
    await tab.page.getByTestId('impact-answer').evaluate((answer) => answer.scrollIntoView());
    await tab.screenshot('impact');
  });

  it('names where the answer stops: Globex’s twins are not shared without its grant', async () => {
    // Asked from the furnace's own page.
    const tab = await signInWith(network.engineerToken, [network.grants.initech!.token], '/twins/initech:furnace-1');
    await tab.page.getByTestId('twin-impact').click();
    await tab.page.waitForURL(/\/impact\?twin=initech%3Afurnace-1$/);
    await stopFor72Hours(tab);
    const boundary = tab.page.locator('[data-testid=impact-unknown] li[data-org=globex][data-reason=FORBIDDEN]');
    expect(await boundary.textContent()).toContain('Globex Steel: not shared with you');
    expect(await boundary.textContent()).toContain('Induction furnace 1');
    // The graph shows it too, past the furnace.
    expect(await tab.page.locator('[data-testid=impact-graph-nodes] [data-node-id="#unknown/0"]').textContent()).toBe('Globex Steel: not shared with you');
    // ACME's line is still hit through the castings; what the press adds is beyond what ACME may see.
    expect((await rowIds(tab)).sort()).toEqual(['acme:cnc-1', 'acme:line-1', 'initech:caster-1', 'initech:furnace-1']);
    expect(await cell(tab, 'acme:line-1', 'hit-losses')).toBe('57–87 h: 100 %');

    // One organization deep: the answer stops past Initech's twins, and says so.
    await tab.page.getByTestId('impact-hops').fill('1');
    await tab.page.getByTestId('impact-run').click();
    const hopLimit = tab.page.locator('[data-testid=impact-unknown] li[data-org=acme][data-reason=HOP_LIMIT]');
    expect(await hopLimit.textContent()).toContain('ACME Motors (OEM): hop limit reached');
    expect(await rowIds(tab)).toEqual(['initech:furnace-1', 'initech:caster-1']);
  });

  it('asks about a disruption from a date and time until another', async () => {
    const tab = await signInWith(
      network.engineerToken,
      Object.values(network.grants).map((grant) => grant.token),
      '/impact?twin=initech:furnace-1',
    );
    // From this minute, until a day later: the times the fields offer.
    await tab.page.getByTestId('impact-start-choose-at').check();
    await tab.page.getByTestId('impact-end-choose-until').check();
    expect(await tab.page.getByTestId('impact-start-at').inputValue()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/);
    await tab.page.getByTestId('impact-lost').fill('50');
    await tab.page.getByTestId('impact-run').click();
    await tab.page.getByTestId('impact-table').waitFor();
    expect(await cell(tab, 'initech:furnace-1', 'hit-for')).toBe('24 h');
    expect(await cell(tab, 'initech:furnace-1', 'hit-lost')).toBe('50 %');
    expect(await tab.page.getByTestId('impact-disruptions').textContent()).toContain('for 24 h, at 50 % of its output');
  });

  it('explains a disruption it cannot ask about, without asking', async () => {
    const tab = await signInWith(
      network.engineerToken,
      Object.values(network.grants).map((grant) => grant.token),
      '/impact',
    );
    await tab.page.getByTestId('impact-run').click();
    expect(await tab.page.getByTestId('error').textContent()).toBe('Pick the twin to disrupt.');
    await tab.page.getByTestId('impact-twin').selectOption('initech:furnace-1');
    await tab.page.getByTestId('impact-lost').fill('0');
    await tab.page.getByTestId('impact-run').click();
    await tab.page.getByTestId('error').filter({ hasText: 'The output lost is a percentage above 0, up to 100.' }).waitFor();
  });
});

describe('what-if scenarios', { timeout: 60_000 }, () => {
  it('saves two scenarios at ACME and compares them side by side with the disruption as it is', async () => {
    // An ACME admin, who may save the organization's scenarios, with the suppliers' grants.
    const tab = await signInWith(
      network.net.orgs.acme!.adminToken,
      Object.values(network.grants).map((grant) => grant.token),
      '/impact?twin=initech:furnace-1',
    );
    await stopFor72Hours(tab);

    // Two more days of castings at the CNC mill.
    await tab.page.getByTestId('help-twin').selectOption('acme:cnc-1');
    await tab.page.getByTestId('help-supplier').selectOption('initech:caster-1');
    await tab.page.getByTestId('help-days').fill('2');
    await tab.page.getByTestId('help-add-stock').click();
    expect(await tab.page.getByTestId('scenario-changes').textContent()).toContain('2 more days of stock at CNC mill 1 from Die caster 1');
    await tab.page.getByTestId('scenario-name').fill('castings in stock');
    await tab.page.getByTestId('scenario-save').click();
    await tab.page.locator('[data-testid=scenarios] li[data-scenario="castings in stock"]').waitFor();

    // ... and a second coil mill taking half of the press's hot-rolled coil, two days away.
    await tab.page.getByTestId('help-twin').selectOption('acme:cnc-1');
    await tab.page.getByTestId('help-days').fill('2');
    await tab.page.getByTestId('help-add-stock').click();
    await tab.page.getByTestId('help-twin').selectOption('acme:press-1');
    await tab.page.getByTestId('help-part').selectOption('hot-rolled coil');
    await tab.page.getByTestId('help-share').fill('50');
    await tab.page.getByTestId('help-alt-lead').fill('48');
    await tab.page.getByTestId('help-add-alternate').click();
    await tab.page.getByTestId('scenario-name').fill('and a second coil mill');
    await tab.page.getByTestId('scenario-save').click();
    await tab.page.locator('[data-testid=scenarios] li[data-scenario="and a second coil mill"]').waitFor();

    // Saved at ACME, as its GraphQL API says.
    const saved = await network.asAdmin('acme', '{ acme { scenarios { name } } }');
    expect(saved.data.acme.scenarios.map((scenario: { name: string }) => scenario.name).sort()).toEqual(['and a second coil mill', 'castings in stock']);

    await tab.page.getByTestId('whatif-run').click();
    await tab.page.getByTestId('whatif-table').waitFor();
    expect(await tab.page.getByTestId('whatif-column').allTextContents()).toEqual(['As is', 'and a second coil mill', 'castings in stock']);
    const line = (scenario: string) => tab.page.locator(`[data-testid=whatif-cell][data-scenario="${scenario}"][data-twin-id="acme:line-1"]`);
    // As things are, the line stops at 57 h; with castings in stock it runs on until 88 h, then at half rate for 6 h; with a second coil mill as well it is not hit.
    expect(await line('As is').textContent()).toBe('hit in 57 h, for 37 h at 100 %; 660 vehicles lost');
    expect(await line('castings in stock').textContent()).toBe('hit in 88 h, for 6 h at 50 %; 60 vehicles lost');
    expect(await line('and a second coil mill').textContent()).toBe('not hit');
    await tab.page.getByTestId('whatif').evaluate((section) => section.scrollIntoView());
    await tab.screenshot('impact-whatif');
  });

  it('tells a viewer that saving is not theirs to do, and compares a scenario kept in the page only', async () => {
    const tab = await signInWith(
      network.engineerToken,
      Object.values(network.grants).map((grant) => grant.token),
      '/impact?twin=initech:furnace-1',
    );
    await stopFor72Hours(tab);
    await tab.page.getByTestId('help-twin').selectOption('acme:cnc-1');
    await tab.page.getByTestId('help-days').fill('2');
    await tab.page.getByTestId('help-add-stock').click();
    await tab.page.getByTestId('scenario-name').fill('castings, unsaved');
    await tab.page.getByTestId('scenario-save').click();
    await tab.page.getByTestId('whatif-error').filter({ hasText: 'Your tokens do not allow this' }).waitFor();
    await tab.page.getByTestId('scenario-keep').click();
    expect(await tab.page.locator('[data-testid=scenarios] li[data-scenario="castings, unsaved"]').textContent()).toContain('(not saved)');
    await tab.page.getByTestId('whatif-run').click();
    await tab.page.getByTestId('whatif-table').waitFor();
    expect(await tab.page.getByTestId('whatif-column').allTextContents()).toEqual(['As is', 'castings, unsaved']);
    const line = tab.page.locator('[data-testid=whatif-cell][data-scenario="castings, unsaved"][data-twin-id="acme:line-1"]');
    expect(await line.getAttribute('data-hit-in')).toMatch(/^(88|87\.99)/);
  });
});
