import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openPage } from '../support/browser.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { Disposers, eventually } from '../support/services.ts';
import { subscriptionsServed } from '../support/subscriptions.ts';

/**
 * A partner's own dashboard, served from its own origin, using the gateway with a browser's
 * `fetch` and a WebSocket, as any web page would: only origins the gateway allows get answers.
 */

const disposers = new Disposers();
let network: TestNetwork;
let browser: Browser;
let allowed: string;
let other: string;

/**
 * The dashboard's page: it asks the gateway for the twins it may see, then subscribes to their
 * states with the graphql-ws protocol, writing what it gets into the page.
 */
function dashboardPage(gatewayUrl: string, token: string): string {
  const settings = JSON.stringify({ http: gatewayUrl, ws: gatewayUrl.replace(/^http/, 'ws'), token });
  return `<!doctype html><meta charset="utf-8"><title>dashboard</title><ul id="twins"></ul><p id="event"></p><p id="problem"></p>
<script>
const { http, ws, token } = ${settings};
const show = (id, text) => { document.getElementById(id).textContent = text; };
fetch(http, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ query: '{ twins(first: 50) { edges { node { id } } } }' }) })
  .then((response) => response.json())
  .then((body) => {
    for (const edge of body.data.twins.edges) {
      const item = document.createElement('li');
      item.textContent = edge.node.id;
      document.getElementById('twins').append(item);
    }
    const socket = new WebSocket(ws, 'graphql-transport-ws');
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer ' + token } }));
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === 'connection_ack') socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { twinEvents(filter: { types: [STATE] }) { twinId state { metrics { value } } } }' } }));
      if (frame.type === 'next') show('event', frame.payload.data.twinEvents.twinId + ' ' + frame.payload.data.twinEvents.state.metrics[0].value);
    };
  })
  .catch((error) => show('problem', 'refused: ' + error.message));
</script>`;
}

/** A web server of a dashboard's own, on a free port; its origin. */
async function dashboardServer(page: () => string): Promise<string> {
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  disposers.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  let page = () => '';
  // The dashboards' origins are known before the network starts: the gateway is told which it allows.
  allowed = await dashboardServer(() => page());
  other = await dashboardServer(() => page());
  network = await startNetwork(disposers, ['acme'], { corsOrigins: [allowed] });
  await network.orgs.acme!.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics: [{ name: 'pressure', unit: 'bar' }] });
  await network.catalogHas(['acme:press-1']);
  const token = await network.orgs.acme!.memberToken('viewer', 'dashboard');
  page = () => dashboardPage(network.gateway.url, token);
  browser = await launchBrowser(disposers);
}, 120_000);
afterAll(() => disposers.dispose());

describe('a dashboard on another origin', () => {
  it('reads twins and subscribes to their states when the gateway allows its origin', async () => {
    const tab = await openPage(browser, allowed);
    await expect.poll(() => tab.page.locator('#twins li').allTextContents(), { timeout: 15_000 }).toEqual(['acme:press-1']);
    // Once the gateway serves the dashboard's subscription, a reading reaches the page.
    await eventually(async () => expect(await subscriptionsServed(network.gateway.url)).toBe(1));
    await network.orgs.acme!.ingest([{ twinId: 'acme:press-1', metric: 'pressure', value: 7.5, at: new Date().toISOString() }]);
    await tab.page.locator('#event', { hasText: 'acme:press-1 7.5' }).waitFor();
  });

  it('gets no answer from a page of an origin the gateway does not allow', async () => {
    // The browser refuses the answer that carries no CORS header for this origin, from the page's first request.
    const tab = await openPage(browser, other, [/CORS policy|Failed to fetch|net::ERR_FAILED/]);
    await expect.poll(() => tab.page.locator('#problem').textContent(), { timeout: 15_000 }).toMatch(/^refused: /);
    expect(await tab.page.locator('#twins li').count()).toBe(0);
  });
});
