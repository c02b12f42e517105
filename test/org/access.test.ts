import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { revokeToken } from '../../subgraphs/org/auth/authenticator.ts';
import { createSigningKey, retireKey } from '../../subgraphs/org/auth/keys.ts';
import { codes } from '../support/graphql.ts';
import { bearer, KEY_SECRET, startOrg, type TestOrg } from '../support/org.ts';
import { Disposers, onServer } from '../support/services.ts';

const disposers = new Disposers();
let acme: TestOrg;

const TWIN = `query($id: ID!) { acme { twin(id: $id) { id name } } }`;
const LIST = `query { acme { twins(first: 100) { edges { node { id } } } } }`;
const TELEMETRY = `query($id: ID!) { acme { twin(id: $id) { telemetry(metric: "temperature") { edges { node { value } } } } } }`;
const INGEST = `mutation($r: [ReadingInput!]!) { acme { ingestTelemetry(readings: $r) { accepted } } }`;
const RENAME = `mutation($id: ID!) { acme { updateTwin(id: $id, patch: { name: "renamed" }) { name } } }`;
const ISSUE_GRANT = `mutation($input: GrantInput!) { acme { issueGrant(input: $input) { token grant { jti partner scopes selector { ids idGlobs kinds tags } active } } } }`;

const TWINS = [
  { id: 'acme:press-1', kind: 'press', tags: ['line-1'] },
  { id: 'acme:press-2', kind: 'press', tags: ['line-2'] },
  { id: 'acme:oven-1', kind: 'furnace', tags: ['line-1'] },
  { id: 'acme:oven-2', kind: 'furnace', tags: ['line-2', 'critical'] },
  { id: 'acme:robot-1', kind: 'robot', tags: [] },
];

function ids(response: any): string[] {
  return response.data.acme.twins.edges.map((edge: any) => edge.node.id);
}

async function visibleTo(headers: Record<string, string>): Promise<string[]> {
  const response = await acme.request(LIST, undefined, headers);
  expect(response.errors).toBeUndefined();
  return ids(response);
}

function inAnHour(): string {
  return new Date(Date.now() + 3_600_000).toISOString();
}

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  for (const twin of TWINS) await acme.createTwin({ ...twin, name: twin.id, metrics: [{ name: 'temperature', unit: 'C' }] });
  await acme.ingest(TWINS.map((twin) => ({ twinId: twin.id, metric: 'temperature', at: '2026-01-01T00:00:00Z', value: 20 })));
});
afterAll(() => disposers.dispose());

describe('members', () => {
  it('viewer reads everything and writes nothing', async () => {
    const viewer = bearer(await acme.memberToken('viewer'));
    expect(await visibleTo(viewer)).toHaveLength(TWINS.length);
    expect((await acme.request(TELEMETRY, { id: 'acme:oven-1' }, viewer)).data.acme.twin.telemetry.edges).toHaveLength(1);
    expect(codes(await acme.request(RENAME, { id: 'acme:oven-1' }, viewer))).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(INGEST, { r: [{ twinId: 'acme:oven-1', metric: 'temperature', at: '2026-01-01T00:01:00Z', value: 1 }] }, viewer))).toEqual([
      'FORBIDDEN',
    ]);
    expect(await acme.db.reading.count()).toBe(TWINS.length);
  });

  it('operator writes twins and telemetry but administers nothing', async () => {
    const operator = bearer(await acme.memberToken('operator'));
    expect((await acme.request(RENAME, { id: 'acme:robot-1' }, operator)).data.acme.updateTwin.name).toBe('renamed');
    const grant = await acme.request(
      ISSUE_GRANT,
      { input: { partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['press'] }, expiresAt: inAnHour() } },
      operator,
    );
    expect(codes(grant)).toEqual(['FORBIDDEN']);
    expect(codes(await acme.request(`query { acme { auditEvents { edges { cursor } } } }`, undefined, operator))).toEqual(['FORBIDDEN']);
  });

  it('a token with explicit scopes has exactly those', async () => {
    const { token } = await (async () => {
      const response = await acme.request(`mutation($input: MemberTokenInput!) { acme { issueMemberToken(input: $input) { token scopes } } }`, {
        input: { subject: 'svc:dashboard', scopes: ['twins:read'], expiresAt: inAnHour() },
      });
      expect(response.data.acme.issueMemberToken.scopes).toEqual(['twins:read']);
      return response.data.acme.issueMemberToken;
    })();
    expect(await visibleTo(bearer(token))).toHaveLength(TWINS.length);
    expect(codes(await acme.request(TELEMETRY, { id: 'acme:oven-1' }, bearer(token)))).toEqual(['FORBIDDEN']);
  });
});

describe('partner grants', () => {
  it('admins issue, list and inspect grants over GraphQL; the token is shown once', async () => {
    const issued = await acme.request(ISSUE_GRANT, {
      input: {
        partner: 'globex',
        scopes: ['twins:read', 'telemetry:read'],
        selector: { idGlobs: ['acme:press-*'] },
        expiresAt: inAnHour(),
        note: 'press monitoring',
      },
    });
    expect(issued.errors).toBeUndefined();
    const { token, grant } = issued.data.acme.issueGrant;
    expect(grant).toMatchObject({
      partner: 'globex',
      scopes: ['twins:read', 'telemetry:read'],
      selector: { ids: [], idGlobs: ['acme:press-*'], kinds: [], tags: [] },
      active: true,
    });
    expect(await visibleTo(bearer(token))).toEqual(['acme:press-1', 'acme:press-2']);
    const listed = await acme.request(`query { acme { grants(filter: { partner: "globex" }) { edges { node { jti note } } } } }`);
    expect(listed.data.acme.grants.edges.map((e: any) => e.node)).toContainEqual({ jti: grant.jti, note: 'press monitoring' });
    expect(JSON.stringify(await acme.db.token.findUnique({ where: { jti: grant.jti } }))).not.toContain(token);
  });

  it('refuses grants beyond what can be granted', async () => {
    const bad = (input: Record<string, unknown>) =>
      acme.request(ISSUE_GRANT, { input: { partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['press'] }, expiresAt: inAnHour(), ...input } });
    expect((await bad({ scopes: ['grants:admin'] })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await bad({ partner: 'acme' })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.partner' });
    expect((await bad({ selector: {} })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await bad({ selector: { ids: ['globex:mill-1'] } })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await bad({ selector: { idGlobs: ['acme:pr*ss'] } })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await bad({ expiresAt: '2020-01-01T00:00:00Z' })).errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.expiresAt' });
  });

  it('selects twins by id, glob, kind and tag; fields combine as AND, values as OR', async () => {
    const cases: [Record<string, string[]>, string[]][] = [
      [{ ids: ['acme:oven-2', 'acme:robot-1'] }, ['acme:oven-2', 'acme:robot-1']],
      [{ idGlobs: ['acme:*-1'] }, ['acme:oven-1', 'acme:press-1', 'acme:robot-1']],
      [{ kinds: ['furnace', 'robot'] }, ['acme:oven-1', 'acme:oven-2', 'acme:robot-1']],
      [{ tags: ['line-2'] }, ['acme:oven-2', 'acme:press-2']],
      [{ kinds: ['press'], tags: ['line-2'] }, ['acme:press-2']],
      [{ idGlobs: ['acme:*'] }, TWINS.map((t) => t.id).sort()],
    ];
    for (const [selector, expected] of cases) {
      const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector });
      expect(await visibleTo(bearer(token)), JSON.stringify(selector)).toEqual(expected);
    }
  });

  it('adds up several grants of the same partner, and refuses grants of different partners together', async () => {
    const presses = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    const robots = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'telemetry:read'], selector: { kinds: ['robot'] } });
    const headers = bearer(presses.token, [robots.token]);
    expect(await visibleTo(headers)).toEqual(['acme:press-1', 'acme:press-2', 'acme:robot-1']);
    // telemetry:read only reaches the robot.
    expect((await acme.request(TELEMETRY, { id: 'acme:robot-1' }, headers)).errors).toBeUndefined();
    expect(codes(await acme.request(TELEMETRY, { id: 'acme:press-1' }, headers))).toEqual(['FORBIDDEN']);
    const other = await acme.grantToken({ partner: 'initech', scopes: ['twins:read'], selector: { kinds: ['robot'] } });
    expect((await acme.request(LIST, undefined, bearer(presses.token, [other.token]))).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('does not leak the existence of twins outside the grant', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    const hidden = await acme.request(TWIN, { id: 'acme:oven-1' }, bearer(token));
    const missing = await acme.request(TWIN, { id: 'acme:nothing' }, bearer(token));
    expect(hidden).toEqual(missing);
    expect(hidden.data.acme.twin).toBeNull();
    const entities = await acme.request(
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on AcmeTwin { id } } }`,
      {
        r: [
          { __typename: 'AcmeTwin', id: 'acme:oven-1' },
          { __typename: 'AcmeTwin', id: 'acme:press-1' },
        ],
      },
      bearer(token),
    );
    expect(entities.data._entities).toEqual([null, { id: 'acme:press-1' }]);
    // A write to a twin the grant does not reach looks the same as to one that does not exist.
    const write = await acme.grantToken({ partner: 'globex', scopes: ['twins:write'], selector: { kinds: ['press'] } });
    expect(codes(await acme.request(RENAME, { id: 'acme:oven-1' }, bearer(write.token)))).toEqual(['UNKNOWN_TWIN']);
    expect(codes(await acme.request(RENAME, { id: 'acme:nothing' }, bearer(write.token)))).toEqual(['UNKNOWN_TWIN']);
  });

  it('writes need the write scopes, within the selector', async () => {
    const { token } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'telemetry:write'], selector: { kinds: ['furnace'] } });
    const ok = await acme.request(INGEST, { r: [{ twinId: 'acme:oven-1', metric: 'temperature', at: '2026-01-01T00:05:00Z', value: 30 }] }, bearer(token));
    expect(ok.data.acme.ingestTelemetry.accepted).toBe(1);
    const outside = await acme.request(
      INGEST,
      { r: [{ twinId: 'acme:press-1', metric: 'temperature', at: '2026-01-01T00:05:00Z', value: 30 }] },
      bearer(token),
    );
    expect(codes(outside)).toEqual(['UNKNOWN_TWIN']);
    expect(codes(await acme.request(RENAME, { id: 'acme:oven-1' }, bearer(token)))).toEqual(['FORBIDDEN']);
    const create = await acme.grantToken({ partner: 'globex', scopes: ['twins:write'], selector: { kinds: ['furnace'] } });
    const createAs = (kind: string) =>
      acme.request(
        `mutation($input: TwinInput!) { acme { createTwin(input: $input) { id } } }`,
        { input: { id: `acme:g-${kind}`, name: 'x', kind } },
        bearer(create.token),
      );
    expect((await createAs('furnace')).errors).toBeUndefined();
    expect(codes(await createAs('press'))).toEqual(['FORBIDDEN']);
    expect(await acme.db.twin.count({ where: { id: 'g-press' } })).toBe(0);
  });

  it('a revoked grant stops working at once', async () => {
    const { token, jti } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    expect(await visibleTo(bearer(token))).toHaveLength(2);
    const revoked = await acme.request(`mutation($jti: ID!) { acme { revokeGrant(jti: $jti) { jti active revokedBy } } }`, { jti });
    expect(revoked.data.acme.revokeGrant).toEqual({ jti, active: false, revokedBy: 'test-admin' });
    const after = await acme.request(LIST, undefined, bearer(token));
    expect(after.status).toBe(401);
    expect(after.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED' });
    const audited = await acme.request(
      `query($jti: ID!) { acme { auditEvents(filter: { grantJti: $jti, allowed: false }) { edges { node { action reason } } } } }`,
      { jti },
    );
    expect(audited.data.acme.auditEvents.edges.map((e: any) => e.node)).toEqual([{ action: 'authenticate', reason: 'REVOKED' }]);
  });
});

describe('audit', () => {
  it('records what a partner read and what it was refused, for admins to query', async () => {
    const { token, jti } = await acme.grantToken({ partner: 'umbrella', scopes: ['twins:read'], selector: { ids: ['acme:press-1'] } });
    await acme.request(TWIN, { id: 'acme:press-1' }, bearer(token));
    await acme.request(TWIN, { id: 'acme:oven-1' }, bearer(token));
    await acme.request(TELEMETRY, { id: 'acme:press-1' }, bearer(token));
    // Members are not audited.
    await acme.request(TWIN, { id: 'acme:press-1' });

    const AUDIT = `query($filter: AuditFilter) { acme { auditEvents(filter: $filter) { edges { node { partner grantJtis action twinIds allowed reason } } } } }`;
    const events = (await acme.request(AUDIT, { filter: { partner: 'umbrella' } })).data.acme.auditEvents.edges.map((e: any) => e.node);
    const read = { partner: 'umbrella', grantJtis: [jti], action: 'read', twinIds: ['acme:press-1'], allowed: true, reason: null };
    // Newest first: the telemetry request read the twin but was refused its telemetry.
    expect(events.slice(0, 2)).toEqual(expect.arrayContaining([read, { ...read, allowed: false, reason: 'FORBIDDEN' }]));
    expect(events.slice(2)).toEqual([{ ...read, twinIds: ['acme:oven-1'], allowed: false, reason: 'UNKNOWN_TWIN' }, read]);
    const byTwin = (await acme.request(AUDIT, { filter: { twinId: 'acme:oven-1', grantJti: jti } })).data.acme.auditEvents.edges;
    expect(byTwin).toHaveLength(1);
    const denied = (await acme.request(AUDIT, { filter: { partner: 'umbrella', allowed: false } })).data.acme.auditEvents.edges;
    expect(denied).toHaveLength(2);
    // Each row stands for one request, seen by the organization, with verified claims.
    const rows = await acme.request(
      `query { acme { auditEvents(filter: { partner: "umbrella" }) { edges { node { count lastAt source claimsVerified } } } } }`,
    );
    expect(rows.data.acme.auditEvents.edges.map((e: any) => e.node)).toEqual(Array(4).fill({ count: 1, lastAt: null, source: null, claimsVerified: true }));
  });
});

describe('revocation channel', () => {
  it('while it is down, each request checks revocations in the database; once back, the channel does', async () => {
    const { token, jti } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    expect(await visibleTo(bearer(token))).toHaveLength(2);
    await onServer(
      (client) =>
        client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'twinx-auth-listener' AND datname = current_database()`),
      acme.databaseUrl,
    );
    await vi.waitFor(() => expect(acme.auth.listening).toBe(false));
    // Revoked by another process while this one hears nothing.
    await revokeToken(acme.db, 'acme', jti, 'GRANT', 'other-replica');
    expect((await acme.request(LIST, undefined, bearer(token))).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED' });
    await vi.waitFor(() => expect(acme.auth.listening).toBe(true), { timeout: 5000 });
    expect((await acme.request(LIST, undefined, bearer(token))).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED' });
  });
});

describe('keys', () => {
  it('publishes public keys only, as a cacheable JWK set', async () => {
    const response = await fetch(acme.url.replace('/graphql', '/.well-known/jwks.json'));
    expect(response.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
  });

  it('rotates: old tokens keep working until their key is retired, new ones are signed by the new key', async () => {
    const before = await acme.memberToken('viewer', 'before-rotation');
    const oldKid = decodeProtectedHeader(before).kid!;
    const newKid = await createSigningKey(acme.db, KEY_SECRET);
    const after = await acme.memberToken('viewer', 'after-rotation');
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect(await visibleTo(bearer(before))).toHaveLength(TWINS.length + 1);
    // The published set follows the key's creation once its NOTIFY is heard.
    await vi.waitFor(
      async () => {
        const jwks = (await (await fetch(acme.url.replace('/graphql', '/.well-known/jwks.json'))).json()) as { keys: { kid: string }[] };
        expect(jwks.keys.map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort());
      },
      { timeout: 10_000 },
    );

    expect(await retireKey(acme.db, 'acme', oldKid)).toBe(true);
    await acme.auth.sync();
    const refused = await acme.request(LIST, undefined, bearer(before));
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'INVALID' });
    expect(await visibleTo(bearer(after))).toHaveLength(TWINS.length + 1);
  });
});
