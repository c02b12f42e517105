import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../gateway/server.ts';
import { TOKEN_TYPES } from '../../lib/tokens/tokens.ts';
import { graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, type TestOrg } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, endOfStream, subscribe, subscriptionsServed } from '../support/subscriptions.ts';

/**
 * The owner sees every partner access, also those that never reach it: events a gateway
 * delivered to partners' subscriptions, and the partners' tokens a gateway refused.
 */

const disposers = new Disposers();
let net: TestNetwork;
let globex: TestOrg;
let gateway: Gateway;

const PING = '{ __typename }';
const AUDIT = `query($filter: AuditFilter) { globex { auditEvents(filter: $filter, first: 500) {
  edges { node { partner grantJtis action twinIds allowed reason count source claimsVerified } } } } }`;

async function audited(filter: Record<string, unknown>): Promise<any[]> {
  const response = await globex.request(AUDIT, { filter });
  expect(response.errors).toBeUndefined();
  return response.data.globex.auditEvents.edges.map((edge: any) => edge.node);
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  globex = net.orgs.globex!;
  gateway = await net.startGateway({ name: 'gw-reporting', accessReportMs: 200 });
  await globex.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', metrics: [{ name: 'force', unit: 'kN' }] });
  await net.catalogHas(['globex:mill-1']);
});
afterAll(() => disposers.dispose());

describe('access reports from gateways', () => {
  it('puts events delivered to a partner’s subscriptions in the owner’s audit, added up per twin', async () => {
    const grant = await globex.grantToken({ partner: 'acme', scopes: ['twins:subscribe'], selector: { ids: ['globex:mill-1'] } });
    const headers = bearer(await net.orgs.acme!.memberToken('viewer'), [grant.token]);
    const after = await endOfStream(net);
    const subscriptions = [0, 1].map(() => {
      const client = connect(gateway.url, headers);
      disposers.add(async () => client.dispose());
      return subscribe(client, `subscription($after: String) { twinEvents(filter: { orgs: ["globex"] }, after: $after) { twinId } }`, { after });
    });
    for (const minute of [1, 2, 3]) {
      await globex.ingest([{ twinId: 'globex:mill-1', metric: 'force', at: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(), value: minute }]);
    }
    await globex.eventsPublished();
    for (const subscription of subscriptions)
      for (let i = 0; i < 3; i++) expect((await subscription.next()).data.twinEvents).toEqual({ twinId: 'globex:mill-1' });
    await eventually(async () => {
      const delivered = await audited({ grantJti: grant.jti, allowed: true });
      expect(delivered.every((entry) => entry.action === 'deliver' && entry.source === 'gateway:gw-reporting')).toBe(true);
      expect(delivered.reduce((sum, entry) => sum + entry.count, 0)).toBe(6);
      expect(delivered[0]).toMatchObject({ partner: 'acme', grantJtis: [grant.jti], twinIds: ['globex:mill-1'] });
    });
  });

  it('puts the partners’ tokens the gateway refused (expired, tampered, revoked) in the owner’s audit', async () => {
    const { token: revokedToken, jti: revokedJti } = await globex.grantToken({
      partner: 'acme',
      scopes: ['twins:subscribe'],
      selector: { ids: ['globex:mill-1'] },
    });
    const served = await subscriptionsServed(gateway.url);
    const client = connect(gateway.url, bearer(revokedToken));
    disposers.add(async () => client.dispose());
    const live = subscribe(client, `subscription { twinEvents { twinId } }`);
    await eventually(async () => expect(await subscriptionsServed(gateway.url)).toBe(served + 1));
    await globex.request(`mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { jti } } }`, { jti: revokedJti });
    // Ended: the gateway knows of the revocation.
    expect((await live.next()).errors?.[0]?.extensions).toMatchObject({ reason: 'REVOKED' });
    const { token } = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { ids: ['globex:mill-1'] } });
    const [header, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, jti: 'tampered-jti' })).toString('base64url')}.${token.split('.')[2]}`;
    const { privateKey } = await globex.issuer.keys.signingKey();
    const expired = await new SignJWT({ scope: 'twins:read', sel: claims.sel })
      .setProtectedHeader({ alg: 'EdDSA', kid: (await globex.issuer.keys.signingKey()).kid, typ: TOKEN_TYPES.grant })
      .setIssuer('twinx:org:globex')
      .setAudience('twinx:org:globex')
      .setSubject('acme')
      .setJti('expired-jti')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(privateKey);
    for (const refused of [tampered, expired]) {
      const answer = await graphql(
        gateway.url,
        `
          {
            twins(first: 1) {
              edges {
                node {
                  id
                }
              }
            }
          }
        `,
        undefined,
        bearer(refused),
      );
      expect(answer.status).toBe(401);
    }
    // Trying again with the revoked grant.
    const refused = await subscribe(client, `subscription { twinEvents { twinId } }`).next();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ reason: 'REVOKED' });
    await eventually(async () => {
      const refusals = (await audited({ allowed: false, partner: 'acme' })).filter((entry) => entry.source === 'gateway:gw-reporting');
      expect(refusals.map((entry) => [entry.grantJtis[0], entry.reason]).sort()).toEqual(
        [
          ['expired-jti', 'EXPIRED'],
          ['tampered-jti', 'INVALID'],
          [revokedJti, 'REVOKED'],
        ].sort(),
      );
      expect(refusals.every((entry) => entry.action === 'authenticate')).toBe(true);
    });
  });

  it('keeps a flood of made-up refused tokens to a bounded number of rows, without losing what else it reports', async () => {
    const grant = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { ids: ['globex:mill-1'] } });
    const [header, payload, signature] = grant.token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const made = (i: number) =>
      `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: `${'x'.repeat(100)}${i}`, jti: `flood-${i}` })).toString('base64url')}.${signature}`;
    // A gateway whose window spans the whole flood; stopping it reports what it added up.
    const flooded = createGateway({ ...net.gatewayOptions, name: 'gw-flooded', accessReportMs: 600_000 });
    await flooded.start();
    for (let i = 0; i < 300; i++) expect((await graphql(flooded.url, PING, undefined, bearer(made(i)))).status).toBe(401);
    await flooded.stop();
    await eventually(async () => {
      const rows = (await audited({ allowed: false })).filter((entry) => entry.source === 'gateway:gw-flooded');
      expect(rows.reduce((sum, entry) => sum + entry.count, 0)).toBe(300);
      // 100 kept apart at most, the rest added up under partner `*`.
      expect(rows.length).toBeLessThanOrEqual(101);
      expect(rows.find((entry) => entry.partner === '*')).toMatchObject({ count: 200, reason: 'INVALID', claimsVerified: false });
    });
  });
});
