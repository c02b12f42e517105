import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signImpactStatement } from '../../lib/impact/statement.ts';
import type { SupplierLoss } from '../../lib/impact/types.ts';
import { IMPACT_AUDIENCE, issuerOf, TOKEN_ALGORITHM, TOKEN_TYPES } from '../../lib/tokens/tokens.ts';
import { codes, graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

/**
 * The directory names who is next in an impact question: for each twin of a signed statement,
 * the other members with a twin it supplies. Organizations only: the customers' twins are theirs
 * to show or not.
 */

const disposers = new Disposers();
let net: TestNetwork;
let caller: Record<string, string>;

const RECIPIENTS = `query($statements: [String!]!) { impactRecipients(statements: $statements) { supplierId orgs } }`;
const now = Date.now();
const lost = (supplierId: string): SupplierLoss => ({ supplierId, tier: 0, loss: [{ from: now, to: now + 3_600_000, loss: 1 }] });

async function statementOf(org: string, twinIds: string[]): Promise<string> {
  return signImpactStatement(org, twinIds.map(lost), await net.orgs[org]!.issuer.keys.signingKey());
}

const recipients = (statements: string[]) => graphql(net.directory.url, RECIPIENTS, { statements }, caller);

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex', 'initech']);
  const twins: [string, Record<string, unknown>[]][] = [
    [
      'acme',
      [
        { id: 'acme:press-1', name: 'Press 1', kind: 'press' },
        { id: 'acme:press-2', name: 'Press 2', kind: 'press' },
        { id: 'acme:line-1', name: 'Line 1', kind: 'line', suppliedByIds: ['acme:press-1'] },
      ],
    ],
    ['globex', [{ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', suppliedByIds: ['acme:press-1', 'initech:oven-1'] }]],
    ['initech', [{ id: 'initech:oven-1', name: 'Oven 1', kind: 'oven', suppliedByIds: ['acme:press-1', 'acme:press-2'] }]],
  ];
  for (const [org, inputs] of twins) {
    for (const input of inputs) await net.orgs[org]!.createTwin(input);
    await net.orgs[org]!.eventsPublished();
  }
  // umbrella is a member that is not running (a running one loses its NATS connection when suspended):
  // its twin is in the catalog as its last lifecycle event left it.
  await net.join({ org: 'umbrella', url: 'http://127.0.0.1:9/graphql' });
  await net.directoryDb.catalogTwin.create({
    data: { id: 'umbrella:vat-1', org: 'umbrella', name: 'Vat 1', kind: 'vat', tags: [], suppliedByIds: ['acme:press-2'], updatedAt: new Date() },
  });
  await net.catalogHas(['acme:line-1', 'acme:press-1', 'acme:press-2', 'globex:mill-1', 'initech:oven-1', 'umbrella:vat-1']);
  caller = bearer(await net.orgs.globex!.memberToken('viewer'));
});
afterAll(() => disposers.dispose());

describe('impactRecipients', () => {
  it('names, for each twin of the statements, the other organizations it supplies', async () => {
    const answer = await recipients([await statementOf('acme', ['acme:press-1', 'acme:press-2']), await statementOf('initech', ['initech:oven-1'])]);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.impactRecipients).toEqual([
      // acme:line-1 is acme's own: acme follows it itself.
      { supplierId: 'acme:press-1', orgs: ['globex', 'initech'] },
      { supplierId: 'acme:press-2', orgs: ['initech', 'umbrella'] },
      { supplierId: 'initech:oven-1', orgs: ['globex'] },
    ]);
  });

  it('does not name a suspended member', async () => {
    const suspended = await net.admin(`mutation { network { suspendOrganization(slug: "umbrella") { status } } }`);
    expect(suspended.errors).toBeUndefined();
    const answer = await recipients([await statementOf('acme', ['acme:press-2'])]);
    expect(answer.data!.impactRecipients).toEqual([{ supplierId: 'acme:press-2', orgs: ['initech'] }]);
  });

  it('refuses a forged, an expired or an overreaching statement, saying which', async () => {
    const valid = await statementOf('acme', ['acme:press-1']);
    const { kid, privateKey } = await net.orgs.acme!.issuer.keys.signingKey();
    const forged = await signImpactStatement('acme', [lost('acme:press-1')], { kid, privateKey: (await generateKeyPair('Ed25519')).privateKey });
    const expired = await new SignJWT({ outputs: [lost('acme:press-1')] })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid, typ: TOKEN_TYPES.impact })
      .setIssuer(issuerOf('acme'))
      .setAudience(IMPACT_AUDIENCE)
      .setJti('old')
      .setIssuedAt(Math.floor(now / 1000) - 600)
      .setExpirationTime(Math.floor(now / 1000) - 480)
      .sign(privateKey);
    const overreaching = await statementOf('acme', ['acme:press-1', 'globex:mill-1']);
    const grant = (await net.orgs.acme!.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { ids: ['acme:press-1'] } })).token;
    const refusal = async (statement: string) => {
      const answer = await recipients([valid, statement]);
      expect(answer.data).toBeNull();
      return { code: codes(answer)[0], reason: answer.errors![0]!.extensions!.reason, statement: answer.errors![0]!.extensions!.statement };
    };
    expect(await refusal(forged)).toEqual({ code: 'UNAUTHENTICATED', reason: 'INVALID', statement: 1 });
    expect(await refusal(expired)).toEqual({ code: 'UNAUTHENTICATED', reason: 'EXPIRED', statement: 1 });
    expect(await refusal(grant)).toEqual({ code: 'UNAUTHENTICATED', reason: 'INVALID', statement: 1 });
    expect(await refusal(overreaching)).toMatchObject({ code: 'FOREIGN_ID', statement: 1 });
  });

  it('takes a bounded number of statements, from a caller with a token', async () => {
    const statement = await statementOf('acme', ['acme:press-1']);
    expect(codes(await recipients(Array.from({ length: 101 }, () => statement)))).toEqual(['BATCH_TOO_LARGE']);
    expect(codes(await graphql(net.directory.url, RECIPIENTS, { statements: [statement] }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('suppliedBy', () => {
  const ENTITIES = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on AcmeTwin { suppliedBy { id } } } }`;
  const composed = { 'twinx-composed': 'acme,globex,initech' };

  it("resolves a twin's suppliers from the ids its organization gave, and refuses a representation without them, or with too many", async () => {
    const ask = (representation: Record<string, unknown>) =>
      graphql(net.directory.url, ENTITIES, { representations: [{ __typename: 'AcmeTwin', id: 'acme:line-1', ...representation }] }, { ...caller, ...composed });
    const viewer = bearer(await net.orgs.acme!.memberToken('viewer'));
    const answer = await graphql(
      net.directory.url,
      ENTITIES,
      { representations: [{ __typename: 'AcmeTwin', id: 'acme:line-1', suppliedByIds: ['acme:press-1'] }] },
      { ...viewer, ...composed },
    );
    expect(answer).toMatchObject({ status: 200, data: { _entities: [{ suppliedBy: [{ id: 'acme:press-1' }] }] } });
    expect(answer.errors).toBeUndefined();
    for (const representation of [
      {},
      { suppliedByIds: 'acme:press-1' },
      { suppliedByIds: [7] },
      { suppliedByIds: Array.from({ length: 101 }, () => 'acme:press-1') },
    ]) {
      const refused = await ask(representation);
      expect(codes(refused)).toEqual(['INVALID_INPUT']);
      expect(refused.errors![0]!.extensions!.field).toBe('suppliedByIds');
    }
  });
});
