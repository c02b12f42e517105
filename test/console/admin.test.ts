import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TWINS } from '../../demo/seed.ts';
import { consoleSignIn, launchBrowser, type ConsolePage } from '../support/browser.ts';
import { startConsoleNetwork, type ConsoleNetwork } from '../support/console-network.ts';
import { codes, graphql } from '../support/graphql.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';

/** Access administration in the console, by Globex's admin, against what ACME's engineer sees. */

const disposers = new Disposers();
let network: ConsoleNetwork;
let browser: Browser;
const { signInWith, signInAs } = consoleSignIn(
  () => browser,
  () => network.consoleUrl,
);

const GLOBEX_TWINS = DEMO_TWINS.globex!.map((twin) => twin.id as string).sort();
const ALL_TWINS = Object.values(DEMO_TWINS)
  .flat()
  .map((twin) => twin.id as string)
  .sort();
const GLOBEX_READ = `query { twins(first: 100) { edges { node { id } } } }`;
/** A question only Globex answers: its verdict on a Globex member token. */
const GLOBEX_OWN = `query { globex { twins(first: 1) { edges { node { id } } } } }`;

/** The ids of the items of a list that carry `data-twin-id`. */
const twinIds = (tab: ConsolePage, list: string) =>
  tab.page
    .locator(`${list} [data-twin-id]`)
    .evaluateAll((items) => items.map((item) => item.getAttribute('data-twin-id')!))
    .then((ids) => ids.sort());

/** The twins a map lists once it has read them all. */
async function mapListing(tab: ConsolePage, count: number): Promise<string[]> {
  await tab.page
    .locator('[data-testid=map-twins] [data-twin-id]')
    .nth(count - 1)
    .waitFor();
  return twinIds(tab, '[data-testid=map-twins]');
}

/** The Globex twins ACME reads through the gateway with these grants. */
async function globexTwinsReadWith(grants: string[]): Promise<string[]> {
  const response = await graphql(network.gateway.url, GLOBEX_READ, {}, bearer(network.engineerToken, grants));
  return response.data!.twins.edges.map((edge: any) => edge.node.id as string).filter((id: string) => id.startsWith('globex:'));
}

beforeAll(async () => {
  network = await startConsoleNetwork(disposers);
  browser = await launchBrowser(disposers);
}, 120_000);
afterAll(() => disposers.dispose());

describe('grants', () => {
  it('a grant revoked in the admin view leaves the partner’s open map at once', async () => {
    // A grant of this test's own: the demo's people keep theirs.
    const globex = await network.grant('globex');
    const map = await signInWith(network.engineerToken, [globex.token, network.grants.initech!.token], '/map');
    expect(await mapListing(map, ALL_TWINS.length)).toEqual(ALL_TWINS);

    const admin = await signInAs('globex-admin', '/admin/grants');
    const row = admin.page.locator(`[data-testid=grants] tr[data-jti="${globex.jti}"]`);
    await row.getByTestId('revoke-grant').click();
    await row.getByTestId('revoke-grant-confirm').click();
    await admin.page.locator(`[data-testid=grants] tr[data-jti="${globex.jti}"][data-state=revoked]`).waitFor();

    // The map reads the twins again with a grant now refused.
    map.expect(/status of 401/);
    await map.page.locator('[data-testid=map-twins] [data-twin-id^="globex:"]').first().waitFor({ state: 'detached' });
    expect(await twinIds(map, '[data-testid=map-twins]')).toEqual(ALL_TWINS.filter((id) => !id.startsWith('globex:')));
  });

  it('issues a grant whose preview lists exactly the twins it lets the partner read; its token is shown once', async () => {
    const admin = await signInAs('globex-admin', '/admin/grants');
    await admin.page.getByTestId('issue-grant').click();
    await admin.page.getByTestId('grant-partner').fill('acme');
    await admin.page.getByTestId('selector-idGlobs').fill('globex:*-1');
    await admin.page.locator('[data-testid=grant-preview][data-total="1"]').waitFor();
    const preview = await twinIds(admin, '[data-testid=grant-preview]');
    expect(preview).toEqual(['globex:mill-1']);
    await admin.page.getByTestId('scope-telemetry:read').check();
    await admin.page.getByTestId('grant-note').fill('mill 1 for the dashboard');
    await admin.screenshot('admin-grants');
    await admin.page.getByTestId('grant-submit').click();
    const token = await admin.page.getByTestId('issued-token-value').inputValue();

    // What the preview showed is what the grant reads, through the gateway.
    expect(await globexTwinsReadWith([token])).toEqual(preview);
    // Nothing more: another of its twins stays out of reach.
    const refused = await graphql(
      network.gateway.url,
      `
        query {
          globex {
            twin(id: "globex:mill-2") {
              name
            }
          }
        }
      `,
      {},
      bearer(network.engineerToken, [token]),
    );
    expect(refused.data?.globex.twin).toBeNull();

    // Once left, the token is gone for good.
    await admin.page.getByTestId('tab-members').click();
    await admin.page.getByTestId('member-form').waitFor();
    await admin.page.getByTestId('tab-grants').click();
    await admin.page.locator('[data-testid=grants] tr[data-state=active]').first().waitFor();
    expect(await admin.page.content()).not.toContain(token);
    expect(await admin.page.evaluate<string>('JSON.stringify(sessionStorage) + JSON.stringify(localStorage)')).not.toContain(token);
  });
});

describe('see as partner', () => {
  it('lists what the partner’s map shows of the organization', async () => {
    const map = await signInAs('acme-engineer', '/map');
    const shown = (await mapListing(map, ALL_TWINS.length)).filter((id) => id.startsWith('globex:'));
    expect(shown).toEqual(GLOBEX_TWINS);

    const admin = await signInAs('globex-admin', '/admin/see-as-partner');
    await admin.page.getByTestId('see-as-partner').selectOption('acme');
    await admin.page.locator('[data-testid=partner-view][data-partner=acme] [data-twin-id]').first().waitFor();
    expect(await twinIds(admin, '[data-testid=partner-view]')).toEqual(shown);
  });
});

describe('member tokens and keys', () => {
  it('issues a member token, shown once, and revokes it', async () => {
    const admin = await signInAs('globex-admin', '/admin/members');
    await admin.page.getByTestId('member-subject').fill('contractor');
    await admin.page.getByTestId('member-role').selectOption('viewer');
    await admin.page.getByTestId('member-submit').click();
    const token = await admin.page.getByTestId('issued-token-value').inputValue();
    expect(codes(await graphql(network.gateway.url, GLOBEX_OWN, {}, bearer(token)))).toEqual([]);

    const row = admin.page.locator('[data-testid=member-tokens] tr[data-subject=contractor]');
    await row.getByTestId('revoke-member').click();
    await row.getByTestId('revoke-member-confirm').click();
    await admin.page.locator('[data-testid=member-tokens] tr[data-subject=contractor][data-state=revoked]').waitFor();
    await eventually(async () => expect(codes(await graphql(network.gateway.url, GLOBEX_OWN, {}, bearer(token)))).toEqual(['UNAUTHENTICATED']));
  });

  it('rotates the signing key and retires the old one: what it signed stops verifying', async () => {
    const admin = await signInAs('globex-admin', '/admin/keys');
    const keys = admin.page.locator('[data-testid=signing-keys] tr[data-kid]');
    await keys.first().waitFor();
    const before = await keys.count();
    await admin.page.getByTestId('rotate-key').click();
    await keys.nth(before).waitFor();
    // A token signed by the key that signs now, which the next rotation makes the old one.
    const signed = await network.memberToken('globex', 'temp');
    const old = await admin.page.locator('[data-testid=signing-keys] tr[data-state=signing]').getAttribute('data-kid');
    await admin.page.getByTestId('rotate-key').click();
    await admin.page.locator(`[data-testid=signing-keys] tr[data-kid="${old}"][data-state=verifying]`).waitFor();
    expect(codes(await graphql(network.gateway.url, GLOBEX_OWN, {}, bearer(signed.token)))).toEqual([]);

    const row = admin.page.locator(`[data-testid=signing-keys] tr[data-kid="${old}"]`);
    await row.getByTestId('retire-key').click();
    await row.getByTestId('retire-key-confirm').click();
    await admin.page.locator(`[data-testid=signing-keys] tr[data-kid="${old}"][data-state=retired]`).waitFor();
    await eventually(async () => expect(codes(await graphql(network.gateway.url, GLOBEX_OWN, {}, bearer(signed.token)))).toEqual(['UNAUTHENTICATED']));
  });
});

describe('audit log', () => {
  it('shows a partner’s refused access, filtered by partner and outcome', async () => {
    // ACME reads the twin its grant reaches and asks for one it does not.
    const narrow = await network.net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { ids: ['globex:mill-1'] } });
    const asked = await graphql(
      network.gateway.url,
      `
        query {
          globex {
            reached: twin(id: "globex:mill-1") {
              name
            }
            unreached: twin(id: "globex:mill-2") {
              name
            }
          }
        }
      `,
      {},
      bearer(network.engineerToken, [narrow.token]),
    );
    expect(asked.data?.globex).toEqual({ reached: { name: 'Rolling mill 1' }, unreached: null });

    const admin = await signInAs('globex-admin', '/admin/audit');
    await admin.page.getByTestId('audit-partner').fill('acme');
    await admin.page.getByTestId('audit-allowed').selectOption('false');
    await admin.page.getByTestId('audit-apply').click();
    // Once the filtered list is in, every row is one of ACME's refusals, the one caused above among them.
    const rows = admin.page.locator('[data-testid=audit-events] tbody tr');
    await expect
      .poll(
        async () => {
          const shown = await rows.evaluateAll((all) => all.map((row) => [row.getAttribute('data-partner'), row.getAttribute('data-allowed')].join(' ')));
          return shown.length > 0 && shown.every((row) => row === 'acme false');
        },
        { timeout: 15_000 },
      )
      .toBe(true);
    await rows.filter({ hasText: 'globex:mill-2' }).first().waitFor();
    // The whole log: ACME's reads and its refusals.
    await admin.page.getByTestId('audit-partner').fill('');
    await admin.page.getByTestId('audit-allowed').selectOption('');
    await admin.page.getByTestId('audit-apply').click();
    await admin.page.locator('[data-testid=audit-events] tr[data-allowed=true]').first().waitFor();
    await admin.screenshot('admin-audit');
  });
});

describe('who may administer', () => {
  it('tells a member who is no administrator plainly, with no error', async () => {
    const tab = await signInAs('acme-engineer', '/map');
    await tab.page.getByTestId('nav-admin').click();
    await tab.page.getByTestId('needs-admin').filter({ hasText: 'needs an administrator' }).waitFor();
    expect(await tab.page.getByTestId('error').count()).toBe(0);
  });
});
