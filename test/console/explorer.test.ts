import { getIntrospectionQuery } from 'graphql';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TWINS } from '../../demo/seed.ts';
import { launchBrowser, openPage, type ConsolePage } from '../support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../support/console-network.ts';
import { codes, graphql } from '../support/graphql.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { subscriptionsServed } from '../support/subscriptions.ts';

/** The console's GraphQL explorer in a browser, on the demo's network, through the gateway only. */

const disposers = new Disposers();
let network: ConsoleNetwork;
let browser: Browser;

/** A Globex twin outside its grant to ACME (mills only). */
const UNGRANTED = 'globex:lathe-1';

/** What the page asked for, over HTTP and WebSocket. */
interface Traffic {
  urls: string[];
}

/** Signs in as ACME's engineer and opens the explorer from the console's navigation, recording every request the page makes. */
async function openExplorer(): Promise<{ tab: ConsolePage; traffic: Traffic }> {
  const tab = await openPage(browser, network.consoleUrl);
  const traffic: Traffic = { urls: [] };
  tab.page.on('request', (request) => traffic.urls.push(request.url()));
  tab.page.on('websocket', (socket) => traffic.urls.push(socket.url()));
  await tab.page.getByTestId('persona-acme-engineer').click();
  await tab.page.getByTestId('whoami').waitFor();
  // The console's own page loads no explorer.
  expect(traffic.urls.filter((url) => /\/assets\/explorer-/.test(url))).toEqual([]);
  await tab.page.getByRole('link', { name: 'Explorer' }).click();
  // Its docs are the gateway's schema, read with the session's tokens.
  await tab.page.getByTestId('explorer-docs').getByRole('button', { name: 'Subscription' }).waitFor();
  // Its code came in a chunk of its own when it was opened.
  expect(traffic.urls.filter((url) => /\/assets\/explorer-/.test(url))).toHaveLength(1);
  return { tab, traffic };
}

/** Every request went to the gateway that serves the console (HTTP or WebSocket): nothing from elsewhere is needed. */
function expectOnlyTheGateway(traffic: Traffic) {
  const gateway = new URL(network.consoleUrl).host;
  expect(traffic.urls.length).toBeGreaterThan(0);
  expect(traffic.urls.filter((url) => new URL(url).host !== gateway || !/^(http|ws):$/.test(new URL(url).protocol))).toEqual([]);
}

/** The explorer's answer, as the gateway sent it. */
async function answer(tab: ConsolePage): Promise<any> {
  const result = tab.page.getByTestId('explorer-result');
  await result.filter({ hasText: '"data"' }).waitFor();
  return JSON.parse((await result.textContent())!);
}

beforeAll(async () => {
  network = await startConsoleNetwork(disposers);
  await network.net.orgs.globex!.createTwin({ id: UNGRANTED, name: 'Lathe 1', kind: 'lathe', tags: [], metrics: [] });
  await network.net.catalogHas([...Object.values(DEMO_TWINS).flatMap((twins) => twins.map((twin) => twin.id as string)), UNGRANTED]);
  browser = await launchBrowser(disposers);
}, 120_000);
afterAll(() => disposers.dispose());

describe('the gateway', () => {
  it('answers the explorer’s introspection query within its limits, to any signed-in caller, in production too', async () => {
    const engineer = bearer(
      network.engineerToken,
      Object.values(network.grants).map((grant) => grant.token),
    );
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    const production = await network.net.startGateway().finally(() => (process.env.NODE_ENV = previous));
    const answers = [
      await graphql(network.gateway.url, getIntrospectionQuery(), {}, engineer),
      await graphql(production.url, getIntrospectionQuery(), {}, engineer),
      // An organization's admin with no grant: the schema is everyone's.
      await graphql(network.gateway.url, getIntrospectionQuery(), {}, bearer(network.net.orgs.globex!.adminToken)),
    ];
    for (const introspection of answers) {
      expect(introspection.errors).toBeUndefined();
      expect(introspection.data).toEqual(answers[0]!.data);
    }
    expect(answers[0]!.data.__schema.subscriptionType.name).toBe('Subscription');
    // Without a token, nothing is answered.
    expect(codes(await graphql(network.gateway.url, getIntrospectionQuery()))).toEqual(['UNAUTHENTICATED']);
  });
});

// Each test drives a browser through several answers: room for a loaded machine.
describe('the explorer', { timeout: 60_000 }, () => {
  it('answers a query typed in with the twins the session’s tokens allow, the explorer loaded from the gateway alone', async () => {
    const { tab, traffic } = await openExplorer();
    // The example query: every twin the tokens allow.
    await tab.page.getByTestId('explorer-run').click();
    const ids = (await answer(tab)).data.twins.edges.map((edge: { node: { id: string } }) => edge.node.id).sort();
    const granted = Object.values(DEMO_TWINS)
      .flat()
      .map((twin) => twin.id as string)
      .sort();
    expect(ids).toEqual(granted);
    expect(ids).not.toContain(UNGRANTED);

    // An operation typed in, with variables.
    const editor = tab.page.getByTestId('explorer-operation').locator('.cm-content');
    await editor.click();
    await tab.page.keyboard.press('ControlOrMeta+a');
    await tab.page.keyboard.insertText('query One($id: ID!) { twin(id: $id) { id name org { slug } } }');
    await tab.page.getByTestId('explorer-variables').locator('.cm-content').click();
    await tab.page.keyboard.press('ControlOrMeta+a');
    await tab.page.keyboard.insertText(JSON.stringify({ id: 'initech:furnace-1' }));
    await tab.page.keyboard.press('ControlOrMeta+Enter');
    await tab.page.getByTestId('explorer-result').filter({ hasText: '"twin": {' }).waitFor();
    expect(await answer(tab)).toEqual({ data: { twin: { id: 'initech:furnace-1', name: 'Induction furnace 1', org: { slug: 'initech' } } } });

    // A twin beyond the grants is refused as the gateway says it.
    await tab.page.getByTestId('explorer-variables').locator('.cm-content').click();
    await tab.page.keyboard.press('ControlOrMeta+a');
    await tab.page.keyboard.insertText(JSON.stringify({ id: UNGRANTED }));
    await tab.page.getByTestId('explorer-run').click();
    await tab.page.getByTestId('explorer-result').filter({ hasNotText: 'Induction furnace 1' }).waitFor();
    const direct = await graphql(
      network.gateway.url,
      'query One($id: ID!) { twin(id: $id) { id name org { slug } } }',
      { id: UNGRANTED },
      bearer(
        network.engineerToken,
        Object.values(network.grants).map((grant) => grant.token),
      ),
    );
    expect(await answer(tab)).toEqual({ data: direct.data, ...(direct.errors && { errors: direct.errors }) });
    expect(direct.data?.twin ?? null).toBeNull();

    // The history keeps each operation run, with its variables.
    await tab.page.getByRole('button', { name: 'History', exact: true }).click();
    expect(await tab.page.getByTestId('explorer-history').getByRole('button').allTextContents()).toEqual(['One', 'One', 'Twins']);
    expectOnlyTheGateway(traffic);
  });

  it('shows twinEvents as they happen, over the gateway’s WebSocket with the session’s tokens', async () => {
    const { tab, traffic } = await openExplorer();
    const before = await subscriptionsServed(network.gateway.url);
    // The cursor in the example subscription runs it.
    await tab.page.getByTestId('explorer-operation').getByText('subscription TwinEvents').click();
    await tab.page.getByTestId('explorer-run').click();
    await tab.page.getByTestId('explorer-status').filter({ hasText: 'Listening' }).waitFor();
    await eventually(async () => expect(await subscriptionsServed(network.gateway.url)).toBeGreaterThan(before));
    await network.publishReading('initech:furnace-1', 'temperature', 1432.5);
    await tab.page.getByTestId('explorer-result').filter({ hasText: '1432.5' }).waitFor();
    const event = JSON.parse((await tab.page.getByTestId('explorer-result').textContent())!).data.twinEvents;
    expect(event).toMatchObject({
      twinId: 'initech:furnace-1',
      state: { metrics: expect.arrayContaining([expect.objectContaining({ metric: 'temperature', value: 1432.5 })]) },
    });
    expect(await tab.page.getByTestId('explorer-status').textContent()).toMatch(/1 event/);

    await tab.page.getByTestId('explorer-docs').getByRole('button', { name: 'Subscription' }).click();
    await tab.page.getByTestId('explorer-docs').getByRole('heading', { name: 'Subscription' }).waitFor();
    await tab.screenshot('explorer');

    await tab.page.getByTestId('explorer-stop').click();
    await eventually(async () => expect(await subscriptionsServed(network.gateway.url)).toBe(before));
    expect(await tab.page.getByTestId('explorer-status').textContent()).toBe('Stopped.');
    expect(traffic.urls.some((url) => url.startsWith('ws:'))).toBe(true);
    expectOnlyTheGateway(traffic);
  });
});
