import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes } from '../support/graphql.ts';
import { bearer, startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

/** What administration shows of grants and member tokens: previews, partners' views, member tokens. */

const disposers = new Disposers();
let acme: TestOrg;

const TWINS = [
  { id: 'acme:press-1', kind: 'press', tags: ['line-1'] },
  { id: 'acme:press-2', kind: 'press', tags: ['line-2'] },
  { id: 'acme:oven-1', kind: 'furnace', tags: ['line-1'] },
  { id: 'acme:oven-2', kind: 'furnace', tags: ['line-2', 'critical'] },
  { id: 'acme:robot-1', kind: 'robot', tags: [] },
];
const LIST = `query { acme { twins(first: 100) { edges { node { id } } } } }`;
const PREVIEW = `query($s: TwinSelectorInput!, $first: Int!, $after: String) {
  acme { twinsSelectedBy(selector: $s, first: $first, after: $after) { total edges { node { id name } } pageInfo { hasNextPage endCursor } } }
}`;
const PARTNER_VIEW = `query($p: String!) { acme { partnerView(partner: $p, first: 100) { total edges { node { twin { id } scopes grantJtis } } } } }`;
const MEMBERS = `query($f: MemberTokenFilter) { acme { memberTokens(filter: $f) { edges { node { jti subject role scopes active revokedAt } } } } }`;

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
const idsOf = (response: any, field: string): string[] => response.data.acme[field].edges.map((edge: any) => edge.node.id ?? edge.node.twin.id);

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  for (const twin of TWINS) await acme.createTwin({ ...twin, name: twin.id });
});
afterAll(() => disposers.dispose());

describe('selector preview', () => {
  it('lists exactly the twins the issued grant then reads, a page at a time with the total', async () => {
    const cases: Record<string, string[]>[] = [
      { ids: ['acme:oven-2', 'acme:robot-1'] },
      { idGlobs: ['acme:*-1'] },
      { kinds: ['furnace', 'robot'] },
      { kinds: ['press'], tags: ['line-2'] },
      { idGlobs: ['acme:*'] },
      { kinds: ['nothing-of-this-kind'] },
    ];
    for (const selector of cases) {
      const preview = await acme.request(PREVIEW, { s: selector, first: 100 });
      expect(preview.errors).toBeUndefined();
      const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector });
      const read = await acme.request(LIST, undefined, bearer(token));
      expect(idsOf(preview, 'twinsSelectedBy'), JSON.stringify(selector)).toEqual(idsOf(read, 'twins'));
      expect(preview.data.acme.twinsSelectedBy.total).toBe(idsOf(read, 'twins').length);
    }
    const first = await acme.request(PREVIEW, { s: { idGlobs: ['acme:*'] }, first: 2 });
    expect(first.data.acme.twinsSelectedBy).toMatchObject({ total: TWINS.length, pageInfo: { hasNextPage: true } });
    const next = await acme.request(PREVIEW, { s: { idGlobs: ['acme:*'] }, first: 100, after: first.data.acme.twinsSelectedBy.pageInfo.endCursor });
    expect([...idsOf(first, 'twinsSelectedBy'), ...idsOf(next, 'twinsSelectedBy')]).toEqual(TWINS.map((twin) => twin.id).sort());
  });

  it('refuses a selector no grant could carry', async () => {
    expect((await acme.request(PREVIEW, { s: {}, first: 10 })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await acme.request(PREVIEW, { s: { ids: ['globex:mill-1'] }, first: 10 })).errors?.[0]?.extensions).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'selector.ids.0',
    });
  });
});

describe('what a partner sees', () => {
  it('is the union of its active grants, each twin with its scopes and grants', async () => {
    const presses = await acme.grantToken({ partner: 'initech', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    const line1 = await acme.grantToken({ partner: 'initech', scopes: ['twins:read', 'telemetry:read'], selector: { tags: ['line-1'] } });
    const revoked = await acme.grantToken({ partner: 'initech', scopes: ['twins:read'], selector: { kinds: ['robot'] } });
    await acme.request(`mutation($jti: ID!) { acme { revokeGrant(jti: $jti) { jti } } }`, { jti: revoked.jti });
    await acme.grantToken({ partner: 'hooli', scopes: ['twins:read'], selector: { kinds: ['furnace'] } });

    const view = await acme.request(PARTNER_VIEW, { p: 'initech' });
    expect(view.errors).toBeUndefined();
    expect(view.data.acme.partnerView).toEqual({
      total: 3,
      edges: [
        { node: { twin: { id: 'acme:oven-1' }, scopes: ['twins:read', 'telemetry:read'], grantJtis: [line1.jti] } },
        { node: { twin: { id: 'acme:press-1' }, scopes: ['twins:read', 'telemetry:read'], grantJtis: [presses.jti, line1.jti] } },
        { node: { twin: { id: 'acme:press-2' }, scopes: ['twins:read'], grantJtis: [presses.jti] } },
      ],
    });
    // What the partner reads with all its grants that still work.
    const read = await acme.request(LIST, undefined, bearer(presses.token, [line1.token]));
    expect(idsOf(view, 'partnerView')).toEqual(idsOf(read, 'twins'));
    expect((await acme.request(PARTNER_VIEW, { p: 'nobody-yet' })).data.acme.partnerView).toEqual({ total: 0, edges: [] });
    expect((await acme.request(PARTNER_VIEW, { p: 'Not A Slug' })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'partner' });
  });
});

describe('member tokens', () => {
  it('lists member tokens, active or revoked, never the token itself', async () => {
    const issued = await acme.request(`mutation($input: MemberTokenInput!) { acme { issueMemberToken(input: $input) { token jti } } }`, {
      input: { subject: 'alice', role: 'viewer', expiresAt: inAnHour() },
    });
    const { token, jti } = issued.data.acme.issueMemberToken;
    const listed = await acme.request(MEMBERS, { f: { subject: 'alice' } });
    expect(listed.data.acme.memberTokens.edges).toEqual([
      {
        node: {
          jti,
          subject: 'alice',
          role: 'viewer',
          scopes: ['twins:read', 'telemetry:read', 'twins:subscribe', 'analytics:read', 'supply:read'],
          active: true,
          revokedAt: null,
        },
      },
    ]);
    expect(JSON.stringify(listed)).not.toContain(token);
    await acme.request(`mutation($jti: ID!) { acme { revokeMemberToken(jti: $jti) } }`, { jti });
    expect((await acme.request(MEMBERS, { f: { active: true } })).data.acme.memberTokens.edges.map((e: any) => e.node.jti)).not.toContain(jti);
    expect((await acme.request(MEMBERS, { f: { active: false } })).data.acme.memberTokens.edges.map((e: any) => e.node.jti)).toContain(jti);
  });
});

describe('who may ask', () => {
  it('refuses non-admins and partners', async () => {
    const viewer = bearer(await acme.memberToken('viewer'));
    const operator = bearer(await acme.memberToken('operator'));
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { idGlobs: ['acme:*'] } });
    for (const headers of [viewer, operator, bearer(token)]) {
      expect(codes(await acme.request(PREVIEW, { s: { kinds: ['press'] }, first: 10 }, headers))).toEqual(['FORBIDDEN']);
      expect(codes(await acme.request(PARTNER_VIEW, { p: 'globex' }, headers))).toEqual(['FORBIDDEN']);
      expect(codes(await acme.request(MEMBERS, {}, headers))).toEqual(['FORBIDDEN']);
    }
  });
});
