import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TWINS } from '../../demo/seed.ts';
import { consoleSignIn, launchBrowser, openPage, type ConsolePage } from '../support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../support/console-network.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, subscribe, subscriptionsServed } from '../support/subscriptions.ts';

/** The console in a browser, on the demo's network, through the gateway only. */

const disposers = new Disposers();
let network: ConsoleNetwork;
let browser: Browser;
const { signInWith, signInAs } = consoleSignIn(
  () => browser,
  () => network.consoleUrl,
);

const ALL_TWINS = Object.values(DEMO_TWINS)
  .flat()
  .map((twin) => twin.id as string)
  .sort();

/** The twins the open map lists, by id. */
const mapTwins = (tab: ConsolePage) => tab.page.locator('[data-testid=map-twins] [data-twin-id]');

async function listed(tab: ConsolePage): Promise<string[]> {
  return (await mapTwins(tab).evaluateAll((items) => items.map((item) => item.getAttribute('data-twin-id')!))).sort();
}

beforeAll(async () => {
  network = await startConsoleNetwork(disposers);
  browser = await launchBrowser(disposers);
}, 120_000);
afterAll(() => disposers.dispose());

describe('sign-in', () => {
  it('signs in with pasted tokens, kept in this tab only, and signs out', async () => {
    const tab = await openPage(browser, network.consoleUrl);
    await tab.page.getByTestId('signin-token').fill(network.engineerToken);
    await tab.page.getByTestId('signin-grants').fill(
      Object.values(network.grants)
        .map((grant) => grant.token)
        .join('\n'),
    );
    await tab.screenshot('signin');
    await tab.page.getByTestId('signin-submit').click();
    await tab.page.getByTestId('whoami').filter({ hasText: 'acme' }).waitFor();
    expect(await tab.page.evaluate<string>('JSON.stringify(sessionStorage)')).toContain(network.engineerToken);
    expect(await tab.page.evaluate<string>('JSON.stringify(localStorage)')).not.toContain(network.engineerToken);
    await tab.page.getByTestId('signout').click();
    await tab.page.getByTestId('signin-token').waitFor();
    expect(await tab.page.evaluate<string>('JSON.stringify(sessionStorage)')).not.toContain(network.engineerToken);
  });

  it('refuses what is not a token at all, saying so, and stays signed out', async () => {
    const tab = await openPage(browser, network.consoleUrl);
    await tab.page.getByTestId('signin-token').fill('not-a-token');
    await tab.page.getByTestId('signin-submit').click();
    await tab.page.getByTestId('error').filter({ hasText: 'This is not a member token of a twinx organization' }).waitFor();
    await tab.page.getByTestId('signin-token').fill(network.engineerToken);
    await tab.page.getByTestId('signin-grants').fill('eyJ.garbage');
    await tab.page.getByTestId('signin-submit').click();
    await tab.page.getByTestId('error').filter({ hasText: 'One of the grants is not a grant token' }).waitFor();
    expect(await tab.page.getByTestId('whoami').count()).toBe(0);
    expect(await tab.page.evaluate<string>('JSON.stringify(sessionStorage)')).not.toContain('not-a-token');
  });

  it('signs in as one of the demo’s people', async () => {
    const tab = await signInAs('globex-admin');
    expect(await tab.page.getByTestId('whoami').textContent()).toMatch(/globex/i);
  });

  it('says so when the member token pasted was revoked', async () => {
    const { token, jti } = await network.memberToken('acme', 'leaver');
    const revoked = await network.asAdmin('acme', `mutation($jti: ID!) { acme { revokeMemberToken(jti: $jti) } }`, { jti });
    expect(revoked.errors).toBeUndefined();
    // Once the gateway knows of it: a subscription with it is refused.
    await eventually(async () => {
      const client = connect(network.gateway.url, bearer(token));
      const refused = await subscribe(client, 'subscription { twinEvents { twinId } }').next();
      await client.dispose();
      expect(refused.errors?.[0]?.extensions).toMatchObject({ reason: 'REVOKED' });
    });
    const tab = await openPage(browser, network.consoleUrl);
    // The browser reports the gateway's 401 to the refused token.
    tab.expect(/status of 401/);
    await tab.page.getByTestId('signin-token').fill(token);
    await tab.page.getByTestId('signin-submit').click();
    // Its requests are refused as revoked (not answered with an empty network), and the page says so.
    await tab.page.getByTestId('error').filter({ hasText: 'Your sign-in was revoked' }).waitFor();
    expect(await mapTwins(tab).count()).toBe(0);
  });
});

describe('the network map', () => {
  it('draws each supply link around the twins between its two, never through one', async () => {
    const tab = await signInAs('acme-engineer', '/map');
    await mapTwins(tab)
      .nth(ALL_TWINS.length - 1)
      .waitFor();
    await tab.page.getByTestId('map').locator('canvas').first().waitFor();
    // The map's graph, as Cytoscape.js registers it on its container.
    const { links, crossings } = await tab.page.evaluate(() => {
      const cy = (globalThis as any).document.querySelector('[data-testid=map]')._cyreg.cy;
      const found: string[] = [];
      for (const edge of cy.edges()) {
        const [a, b] = [edge.source().position(), edge.target().position()];
        const [c = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }] = edge.controlPoints() ?? [];
        for (const node of cy.nodes(':childless')) {
          if (node.same(edge.source()) || node.same(edge.target())) continue;
          const p = node.position();
          for (let t = 0; t <= 1; t += 0.01) {
            const x = (1 - t) ** 2 * a.x + 2 * t * (1 - t) * c.x + t ** 2 * b.x;
            const y = (1 - t) ** 2 * a.y + 2 * t * (1 - t) * c.y + t ** 2 * b.y;
            if (Math.hypot(x - p.x, y - p.y) < node.width() / 2) {
              found.push(`${edge.id()} through ${node.id()}`);
              break;
            }
          }
        }
      }
      return { links: cy.edges().length as number, crossings: found };
    });
    expect(links).toBeGreaterThan(3);
    expect(crossings).toEqual([]);
  });

  it('lists the twins of all three organizations, each with its status', async () => {
    const tab = await signInAs('acme-engineer', '/map');
    await mapTwins(tab)
      .nth(ALL_TWINS.length - 1)
      .waitFor();
    expect(await listed(tab)).toEqual(ALL_TWINS);
    const statuses = await mapTwins(tab).evaluateAll((items) => items.map((item) => item.getAttribute('data-status')));
    for (const status of statuses) expect(['UNKNOWN', 'OK', 'ALERT']).toContain(status);
    await tab.page.getByTestId('map').locator('canvas').first().waitFor();
    await tab.screenshot('map');
  });

  it('loses a supplier’s twins at once when the supplier revokes its grant', async () => {
    // A grant of this test's own: the demo's people keep theirs.
    const globex = await network.grant('globex');
    const tab = await signInWith(network.engineerToken, [globex.token, network.grants.initech!.token], '/map');
    await mapTwins(tab)
      .nth(ALL_TWINS.length - 1)
      .waitFor();
    // Globex's admin revokes its grant to ACME, through the gateway as an admin's console would.
    const revoked = await network.asAdmin('globex', `mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { jti } } }`, { jti: globex.jti });
    expect(revoked.errors).toBeUndefined();
    tab.expect(/status of 401/);
    await tab.page.locator('[data-testid=map-twins] [data-twin-id^="globex:"]').first().waitFor({ state: 'detached', timeout: 10_000 });
    expect(await listed(tab)).toEqual(ALL_TWINS.filter((id) => !id.startsWith('globex:')));
    // Saying whose grant it was, by the name people know.
    await tab.page.getByTestId('error').filter({ hasText: 'Your grant from Globex Steel was revoked' }).waitFor();
  });
});

describe('the twin page', () => {
  it('shows a reading ingested through NATS within a second, with the twin’s suppliers and customers', async () => {
    const before = await subscriptionsServed(network.gateway.url);
    const tab = await signInAs('acme-engineer', '/twins/acme:cnc-1');
    await tab.page.getByTestId('twin-name').filter({ hasText: 'CNC mill 1' }).waitFor();
    await tab.page.getByTestId('twin-status').waitFor();
    await tab.page.locator('[data-testid=chart][data-metric=temperature]').waitFor();
    await tab.page.locator('[data-testid=supplier] a').first().waitFor();
    expect(await tab.page.locator('[data-testid=supplier] a').allTextContents()).toEqual(['Die caster 1']);
    await tab.page.locator('[data-testid=customer] a').first().waitFor();
    expect(await tab.page.locator('[data-testid=customer] a').allTextContents()).toEqual(['Assembly line 1']);
    // Its live feed is open: what is ingested from now on reaches it.
    await eventually(async () => expect(await subscriptionsServed(network.gateway.url)).toBeGreaterThan(before));
    await network.publishReading('acme:cnc-1', 'temperature', 31.7);
    // How soon is measured by npm run bench:console (a reading to the open map).
    await tab.page.locator('[data-testid=metric-value][data-metric=temperature]').filter({ hasText: '31.7' }).waitFor();
    // Renamed by its owner: the open page shows it under its new name.
    const renamed = await network.net.orgs.acme!.request(
      `mutation { acme { updateTwin(id: "acme:cnc-1", patch: { name: "CNC mill 1 (spindle B)" }) { name } } }`,
    );
    expect(renamed.errors).toBeUndefined();
    await tab.page.getByTestId('twin-name').filter({ hasText: 'CNC mill 1 (spindle B)' }).waitFor();
    await network.net.orgs.acme!.request(`mutation { acme { updateTwin(id: "acme:cnc-1", patch: { name: "CNC mill 1" }) { name } } }`);
  });
});
