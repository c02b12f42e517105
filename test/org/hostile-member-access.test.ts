import { randomUUID } from 'node:crypto';
import { base64url, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_TYPES } from '../../lib/tokens/tokens.ts';
import { createSigningKey, retireKey } from '../../subgraphs/org/auth/keys.ts';
import { codes } from '../support/graphql.ts';
import { bearer, type TestOrg } from '../support/org.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { Disposers } from '../support/services.ts';

/**
 * A partner organization (acme) using the grants globex gave it to learn, or do, more than they
 * allow: at globex's subgraph and through the network (gateway, directory).
 */

const disposers = new Disposers();
let net: TestNetwork;
let globex: TestOrg;

const AUDIT = `query($filter: AuditFilter) { globex { auditEvents(filter: $filter, first: 500) {
  edges { node { partner grantJtis action twinIds allowed reason } } } } }`;

async function audited(filter: Record<string, unknown>): Promise<any[]> {
  const response = await globex.request(AUDIT, { filter });
  expect(response.errors).toBeUndefined();
  return response.data.globex.auditEvents.edges.map((edge: any) => edge.node);
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['globex']);
  globex = net.orgs.globex!;
  for (const id of ['globex:lathe_1', 'globex:latheX1']) await globex.createTwin({ id, name: id, kind: 'lathe' });
  await globex.eventsPublished();
  await net.catalogHas(['globex:lathe_1', 'globex:latheX1']);
});
afterAll(() => disposers.dispose());

describe('selectors', () => {
  it('a glob reaches only ids it matches: `_` in it is no wildcard, at the organization nor in the directory', async () => {
    const { token, jti } = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { idGlobs: ['globex:lathe_*'] } });
    const LIST = `query { globex { twins { edges { node { id } } } } }`;
    const listed = await globex.request(LIST, undefined, bearer(token));
    expect(listed.data.globex.twins.edges.map((edge: any) => edge.node.id)).toEqual(['globex:lathe_1']);
    const TWIN = `query($id: ID!) { globex { twin(id: $id) { id name } } }`;
    expect((await globex.request(TWIN, { id: 'globex:latheX1' }, bearer(token))).data.globex.twin).toBeNull();
    expect((await globex.request(TWIN, { id: 'globex:lathe_1' }, bearer(token))).data.globex.twin).toEqual({ id: 'globex:lathe_1', name: 'globex:lathe_1' });

    const network = await net.query(`{ twins(first: 10) { edges { node { id } } } }`, undefined, bearer(token));
    expect(network.errors).toBeUndefined();
    expect(network.data.twins.edges.map((edge: any) => edge.node.id)).toEqual(['globex:lathe_1']);
    expect((await net.query(`{ twin(id: "globex:latheX1") { id } }`, undefined, bearer(token))).data.twin).toBeNull();

    // Newest first: the network's twin(id), asked of globex itself (gateway/twin-owner.ts) and
    // refused there, the read of lathe_1, the refused read of latheX1, the list.
    const read = { partner: 'acme', grantJtis: [jti], action: 'read', allowed: true, reason: null };
    expect(await audited({ grantJti: jti })).toEqual([
      { ...read, twinIds: ['globex:latheX1'], allowed: false, reason: 'UNKNOWN_TWIN' },
      { ...read, twinIds: ['globex:lathe_1'] },
      { ...read, twinIds: ['globex:latheX1'], allowed: false, reason: 'UNKNOWN_TWIN' },
      { ...read, twinIds: ['globex:lathe_1'] },
    ]);
  });
});

/** Every field of the twin type but `id` and the non-null `suppliedByIds`. */
const TWIN_FIELDS = `id name kind description tags attributes listed location { site } metrics { name } state { status } createdAt updatedAt
  telemetry(metric: "t") { edges { node { value } } } aggregates(metric: "t", from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", bucketSeconds: 3600) { count }`;
const FIELD_NAMES = TWIN_FIELDS.replace(/\([^)]*\)|\{[^}]*\}/g, '')
  .split(/\s+/)
  .filter((name) => name && name !== 'id' && !name.includes('}'));

/** Each twin mutation of globex, as `mutation(<n>)` of a fresh press twin `globex:<prefix>-<n>` (created by the admin unless it is createTwin). */
const MUTATIONS: Record<string, (id: string) => string> = {
  createTwin: (id) => `createTwin(input: { id: "${id}", name: "New", kind: "press" })`,
  updateTwin: (id) => `updateTwin(id: "${id}", patch: {})`,
  linkSupplier: (id) => `linkSupplier(twinId: "${id}", supplierId: "initech:mill-1")`,
  unlinkSupplier: (id) => `unlinkSupplier(twinId: "${id}", supplierId: "initech:mill-1")`,
  removeMetric: (id) => `removeMetric(twinId: "${id}", metric: "t")`,
};

async function pressTwin(id: string): Promise<void> {
  await globex.createTwin({
    id,
    name: 'Secret press',
    kind: 'press',
    description: 'confidential',
    tags: ['secret'],
    attributes: { tonnage: 400 },
    location: { site: 'Hidden' },
    suppliedByIds: ['initech:mill-1'],
    metrics: [
      { name: 't', unit: 'C' },
      { name: 'u', unit: 'C' },
    ],
  });
  await globex.ingest([{ twinId: id, metric: 't', at: '2026-01-01T00:00:00Z', value: 42 }]);
}

describe('write-only grants', () => {
  it('read nothing back through any twin mutation: every field but id is refused with FORBIDDEN naming twins:read', async () => {
    const { token, jti } = await globex.grantToken({ partner: 'acme', scopes: ['twins:write'], selector: { kinds: ['press'] } });
    for (const [name, mutation] of Object.entries(MUTATIONS)) {
      const id = `globex:wo-${name.toLowerCase()}`;
      if (name !== 'createTwin') await pressTwin(id);
      const response = await globex.request(`mutation { globex { ${mutation(id)} { ${TWIN_FIELDS} } } }`, undefined, bearer(token));
      const result = response.data.globex[name];
      expect(result, name).toEqual({ id, ...Object.fromEntries(FIELD_NAMES.map((field) => [field, null])) });
      expect(response.errors, name).toHaveLength(FIELD_NAMES.length);
      for (const error of response.errors!) {
        expect(error.extensions).toEqual({ code: 'FORBIDDEN', scope: 'twins:read' });
        expect(error.message).not.toMatch(/secret|confidential|hidden/i);
      }
      expect(response.errors!.map((error) => error.path!.at(-1)).sort()).toEqual([...FIELD_NAMES].sort());
    }
    // The writes happened, and were audited as writes; the fields asked for as refused reads.
    expect(await globex.db.twin.count({ where: { id: 'wo-createtwin' } })).toBe(1);
    expect(await globex.db.metric.count({ where: { twinId: 'wo-removemetric' } })).toBe(1);
    const events = await audited({ grantJti: jti });
    const ids = Object.keys(MUTATIONS).map((name) => `globex:wo-${name.toLowerCase()}`);
    expect(events.filter((event) => event.action === 'write')).toEqual(
      [...ids].reverse().map((id) => ({ partner: 'acme', grantJtis: [jti], action: 'write', twinIds: [id], allowed: true, reason: null })),
    );
    expect(events.filter((event) => event.action === 'read').every((event) => !event.allowed && event.reason === 'FORBIDDEN')).toBe(true);
  });

  it('a result selecting the non-null suppliedByIds is null as a whole, after the write; selecting id alone works', async () => {
    const { token } = await globex.grantToken({ partner: 'acme', scopes: ['twins:write'], selector: { kinds: ['press'] } });
    await pressTwin('globex:wo-suppliers');
    const suppliers = await globex.request(
      `mutation { globex { updateTwin(id: "globex:wo-suppliers", patch: { name: "Renamed" }) { id suppliedByIds } } }`,
      undefined,
      bearer(token),
    );
    expect(suppliers.data).toBeNull();
    expect(suppliers.errors).toHaveLength(1);
    expect(suppliers.errors![0]).toMatchObject({ path: ['globex', 'updateTwin', 'suppliedByIds'], extensions: { code: 'FORBIDDEN', scope: 'twins:read' } });
    expect((await globex.db.twin.findUnique({ where: { id: 'wo-suppliers' } }))?.name).toBe('Renamed');
    const idOnly = await globex.request(`mutation { globex { updateTwin(id: "globex:wo-suppliers", patch: {}) { id } } }`, undefined, bearer(token));
    expect(idOnly).toEqual({ status: 200, data: { globex: { updateTwin: { id: 'globex:wo-suppliers' } } } });
  });

  it('with twins:read on the twin too, the same mutations return its fields, audited as a read and a write', async () => {
    const { token, jti } = await globex.grantToken({
      partner: 'acme',
      scopes: ['twins:read', 'twins:write', 'telemetry:read'],
      selector: { kinds: ['press'] },
    });
    await pressTwin('globex:rw-1');
    const response = await globex.request(
      `mutation { globex { updateTwin(id: "globex:rw-1", patch: {}) { ${TWIN_FIELDS} suppliedByIds } } }`,
      undefined,
      bearer(token),
    );
    expect(response.errors).toBeUndefined();
    expect(response.data.globex.updateTwin).toMatchObject({
      name: 'Secret press',
      tags: ['secret'],
      suppliedByIds: ['initech:mill-1'],
      state: { status: 'OK' },
    });
    expect(codes(await globex.request(`mutation { globex { updateTwin(id: "globex:rw-1", patch: {}) { id } } }`, undefined, bearer(token)))).toEqual([]);
    const events = await audited({ grantJti: jti });
    // Newest first: the second request wrote; the first wrote and read.
    expect(events.map((event) => `${event.action} ${event.allowed}`)).toEqual(['write true', 'write true', 'read true']);
  });
});

/** A response with one twin id in it replaced, to compare answers about two twins. */
function about(response: unknown, id: string): string {
  return JSON.stringify(response).replaceAll(id, '<twin>');
}

describe('writes within the grant', () => {
  it('a write never takes a twin out of the grant that allowed it, into one that reads it', async () => {
    await globex.createTwin({ id: 'globex:press-secret', name: 'Secret press', kind: 'press' });
    // Write on presses, read on twins tagged shared: tagging a press shared would reveal it.
    const write = await globex.grantToken({ partner: 'acme', scopes: ['twins:write'], selector: { kinds: ['press'] } });
    const read = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { tags: ['shared'] } });
    const partner = bearer(write.token, [read.token]);
    for (const patch of [{ tags: ['shared'] }, { kind: 'lathe', tags: ['shared'] }]) {
      const answer = await globex.request(
        `mutation($patch: TwinPatch!) { globex { updateTwin(id: "globex:press-secret", patch: $patch) { id } } }`,
        { patch },
        partner,
      );
      expect(answer.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'twins:write' });
    }
    expect(await globex.db.twin.findUnique({ where: { id: 'press-secret' }, select: { kind: true, tags: true } })).toEqual({ kind: 'press', tags: [] });
    const seen = await globex.request(`{ globex { twin(id: "globex:press-secret") { id } } }`, undefined, partner);
    expect(seen.data.globex.twin).toBeNull();
  });
});

describe('existence oracles', () => {
  /** A twin outside every grant below, and an id nothing has. */
  const HIDDEN = 'globex:oven-hidden';
  const NOWHERE = 'globex:oven-nowhere';
  let writer: Record<string, string>;
  let writerJti: string;

  beforeAll(async () => {
    await globex.createTwin({ id: HIDDEN, name: 'Hidden oven', kind: 'oven', metrics: [{ name: 't', unit: 'C' }] });
    const grant = await globex.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:write', 'telemetry:write'], selector: { kinds: ['press'] } });
    writer = bearer(grant.token);
    writerJti = grant.jti;
  });

  it('createTwin of a taken id the partner may not read answers exactly as a refused write, audited as a denial', async () => {
    const CREATE = `mutation($input: TwinInput!) { globex { createTwin(input: $input) { id } } }`;
    // Within the grant by what the partner says (a press), but the id is the hidden oven's.
    const taken = await globex.request(CREATE, { input: { id: HIDDEN, name: 'Mine', kind: 'press' } }, writer);
    // Outside the grant: refused whether the id is free or not.
    const refused = await globex.request(CREATE, { input: { id: NOWHERE, name: 'Mine', kind: 'oven' } }, writer);
    expect(refused.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', scope: 'twins:write' });
    expect(about(taken, HIDDEN)).toBe(about(refused, NOWHERE));
    expect((await globex.db.twin.findUnique({ where: { id: 'oven-hidden' } }))?.name).toBe('Hidden oven');
    expect(await globex.db.twin.count({ where: { id: 'oven-nowhere' } })).toBe(0);
    const denials = (await audited({ grantJti: writerJti, allowed: false })).slice(0, 2);
    expect(denials).toEqual(
      [NOWHERE, HIDDEN].map((id) => ({ partner: 'acme', grantJtis: [writerJti], action: 'write', twinIds: [id], allowed: false, reason: 'FORBIDDEN' })),
    );
    // A twin the partner may read is simply taken.
    await globex.createTwin({ id: 'globex:press-taken', name: 'Press', kind: 'press' });
    expect(codes(await globex.request(CREATE, { input: { id: 'globex:press-taken', name: 'Mine', kind: 'press' } }, writer))).toEqual(['ALREADY_EXISTS']);
  });

  it('changes, links and telemetry answer the same for a twin outside the grants as for one that does not exist', async () => {
    const operations = [
      (id: string) => `mutation { globex { updateTwin(id: "${id}", patch: { name: "x" }) { id } } }`,
      (id: string) => `mutation { globex { deleteTwin(id: "${id}") } }`,
      (id: string) => `mutation { globex { linkSupplier(twinId: "${id}", supplierId: "initech:mill-1") { id } } }`,
      (id: string) => `mutation { globex { unlinkSupplier(twinId: "${id}", supplierId: "initech:mill-1") { id } } }`,
      (id: string) => `mutation { globex { removeMetric(twinId: "${id}", metric: "t") { id } } }`,
      (id: string) =>
        `mutation { globex { ingestTelemetry(readings: [{ twinId: "${id}", metric: "t", at: "2026-01-01T00:00:00Z", value: 1 }]) { accepted } } }`,
      // The hidden twin as a supplier of one the partner may write to.
      (id: string) => `mutation { globex { linkSupplier(twinId: "globex:press-taken", supplierId: "${id}") { id } } }`,
      (id: string) => `mutation { globex { createTwin(input: { id: "globex:press-new", name: "x", kind: "press", suppliedByIds: ["${id}"] }) { id } } }`,
      (id: string) => `query { globex { twin(id: "${id}") { id } } }`,
    ];
    for (const operation of operations) {
      const hidden = await globex.request(operation(HIDDEN), undefined, writer);
      const missing = await globex.request(operation(NOWHERE), undefined, writer);
      expect(about(hidden, HIDDEN), operation(HIDDEN)).toBe(about(missing, NOWHERE));
    }
    expect(await globex.db.twin.findUnique({ where: { id: 'oven-hidden' }, select: { name: true, suppliers: true } })).toEqual({
      name: 'Hidden oven',
      suppliers: [],
    });
    expect(await globex.db.reading.count({ where: { twinId: 'oven-hidden' } })).toBe(0);
  });

  it('removing a metric tells whether the twin had it only to a partner that may read the twin', async () => {
    const { token } = await globex.grantToken({ partner: 'acme', scopes: ['twins:write'], selector: { kinds: ['press'] } });
    await pressTwin('globex:metrics-1');
    const remove = (metric: string, headers: Record<string, string>) =>
      globex.request(`mutation { globex { removeMetric(twinId: "globex:metrics-1", metric: "${metric}") { id } } }`, undefined, headers);
    const had = await remove('t', bearer(token));
    const hadNot = await remove('nope', bearer(token));
    expect(had).toEqual({ status: 200, data: { globex: { removeMetric: { id: 'globex:metrics-1' } } } });
    expect(hadNot).toEqual(had);
    expect(await globex.db.metric.findMany({ where: { twinId: 'metrics-1' }, select: { name: true } })).toEqual([{ name: 'u' }]);
    expect(codes(await remove('nope', writer))).toEqual(['UNKNOWN_METRIC']);
  });
});

describe('refused grant tokens', () => {
  const READ = { query: `query { globex { twins { edges { node { id } } } } }` };
  const REFUSAL = `query($jti: ID!) { globex { auditEvents(filter: { grantJti: $jti }) {
    edges { node { partner grantJtis action twinIds allowed reason count lastAt source claimsVerified } } } } }`;

  /** Sends a request presenting the token and checks it is refused for `reason`. */
  async function refuse(headers: Record<string, string>, reason: string): Promise<void> {
    const response = await fetch(globex.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(READ) });
    expect(response.status).toBe(401);
    expect(((await response.json()) as any).errors[0].extensions).toEqual({ code: 'UNAUTHENTICATED', reason });
  }

  /** Claims of a globex grant to acme, valid for an hour unless overridden. */
  function grantClaims(overrides: Record<string, unknown> = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    const sel = { ids: [], idGlobs: ['globex:*'], kinds: [], tags: [] };
    return {
      iss: 'twinx:org:globex',
      aud: 'twinx:org:globex',
      sub: 'acme',
      jti: randomUUID(),
      iat: now,
      nbf: now,
      exp: now + 3600,
      scope: 'twins:read',
      sel,
      ...overrides,
    };
  }

  /** Signed with globex's own key: only the claim overridden is wrong. */
  async function signed(claims: JWTPayload, typ: string = TOKEN_TYPES.grant): Promise<string> {
    const { kid, privateKey } = await globex.issuer.keys.signingKey();
    return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid, typ }).sign(privateKey);
  }

  /** A token with one part of it replaced. */
  function tamper(token: string, part: 0 | 1, edit: (json: Record<string, any>) => void): string {
    const parts = token.split('.');
    const json = JSON.parse(new TextDecoder().decode(base64url.decode(parts[part]!)));
    edit(json);
    parts[part] = base64url.encode(JSON.stringify(json));
    return parts.join('.');
  }

  const jtiOf = (token: string): string => JSON.parse(new TextDecoder().decode(base64url.decode(token.split('.')[1]!))).jti;

  it('expired, not yet valid, tampered, retired-key and wrong-type grants are audited with the reason and the partner and jti they claim', async () => {
    const now = Math.floor(Date.now() / 1000);
    const real = async () => (await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { kinds: ['press'] } })).token;
    const newKid = await createSigningKey(globex.db, 'test-key-secret-of-at-least-32-characters');
    const { token: ofRetiredKey } = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    expect(await retireKey(globex.db, 'globex', newKid)).toBe(true);
    await globex.auth.sync();
    const cases: [string, string, string][] = [
      ['expired', await signed(grantClaims({ iat: now - 7200, nbf: now - 7200, exp: now - 60 })), 'EXPIRED'],
      ['not yet valid', await signed(grantClaims({ nbf: now + 3600, exp: now + 7200 })), 'NOT_YET_VALID'],
      ['tampered selector', tamper(await real(), 1, (payload) => (payload.sel.kinds = ['lathe'])), 'INVALID'],
      ['claiming another partner', tamper(await real(), 1, (payload) => (payload.sub = 'initech')), 'INVALID'],
      ['retired key', ofRetiredKey, 'INVALID'],
      ['member type', tamper(await real(), 0, (header) => (header.typ = TOKEN_TYPES.member)), 'INVALID'],
      ['generic type', await signed(grantClaims(), 'JWT'), 'INVALID'],
    ];
    for (const [name, token, reason] of cases) {
      await refuse(bearer(token), reason);
      const events = (await globex.request(REFUSAL, { jti: jtiOf(token) })).data.globex.auditEvents.edges.map((edge: any) => edge.node);
      const partner = name === 'claiming another partner' ? 'initech' : 'acme';
      expect(events, name).toEqual([
        {
          partner,
          grantJtis: [jtiOf(token)],
          action: 'authenticate',
          twinIds: [],
          allowed: false,
          reason,
          count: 1,
          lastAt: null,
          source: null,
          claimsVerified: false,
        },
      ]);
    }
    // In the grants header too.
    const expired = await signed(grantClaims({ exp: now - 60 }));
    await refuse({ 'twin-grants': expired }, 'EXPIRED');
    expect((await globex.request(REFUSAL, { jti: jtiOf(expired) })).data.globex.auditEvents.edges).toHaveLength(1);
  });

  it('grants of two partners presented together are refused, and audited for each partner as verified', async () => {
    const acmes = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    const initechs = await globex.grantToken({ partner: 'initech', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    await refuse(bearer(acmes.token, [initechs.token]), 'INVALID');
    for (const [partner, jti] of [
      ['acme', acmes.jti],
      ['initech', initechs.jti],
    ]) {
      const events = (await globex.request(REFUSAL, { jti })).data.globex.auditEvents.edges.map((edge: any) => edge.node);
      expect(events).toEqual([
        {
          partner,
          grantJtis: [jti],
          action: 'authenticate',
          twinIds: [],
          allowed: false,
          reason: 'INVALID',
          count: 1,
          lastAt: null,
          source: null,
          claimsVerified: true,
        },
      ]);
    }
  });

  it('tokens that do not claim to be globex’s grants are refused without an audit row', async () => {
    const before = await globex.db.auditEvent.count();
    await refuse(bearer('garbage'), 'MALFORMED');
    await refuse(bearer(tamper(await signed(grantClaims()), 1, (payload) => (payload.iss = 'twinx:org:initech'))), 'INVALID');
    await refuse(bearer(tamper(globex.adminToken, 1, (payload) => (payload.scope = 'grants:admin audit:read'))), 'INVALID');
    await globex.request(`query { globex { auditEvents(first: 1) { edges { cursor } } } }`);
    expect(await globex.db.auditEvent.count()).toBe(before);
  });

  it('a flood of 1,000 refused grants becomes a bounded number of rows whose counts add up to 1,000', async () => {
    const start = new Date();
    const now = Math.floor(start.getTime() / 1000);
    const expired = await signed(grantClaims({ exp: now - 60 }));
    const { token: real } = await globex.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { kinds: ['press'] } });
    // 400 times the same expired grant, and 600 tampered grants, each claiming another jti.
    const tokens = [...Array(400).fill(expired), ...Array.from({ length: 600 }, () => tamper(real, 1, (payload) => (payload.jti = randomUUID())))];
    for (let i = 0; i < tokens.length; i += 50)
      await Promise.all(tokens.slice(i, i + 50).map((token) => refuse(bearer(token), token === expired ? 'EXPIRED' : 'INVALID')));

    const listed = await globex.request(
      `query($from: DateTime) { globex { auditEvents(filter: { from: $from, allowed: false }, first: 500) {
        edges { node { partner grantJtis action reason count lastAt claimsVerified } } pageInfo { hasNextPage } } } }`,
      { from: start.toISOString() },
    );
    const rows = listed.data.globex.auditEvents.edges.map((edge: any) => edge.node);
    expect(listed.data.globex.auditEvents.pageInfo.hasNextPage).toBe(false);
    expect(rows.every((row: any) => row.action === 'authenticate' && !row.claimsVerified)).toBe(true);
    const sum = (list: any[]) => list.reduce((total, row) => total + row.count, 0);
    const repeated = rows.filter((row: any) => row.grantJtis[0] === jtiOf(expired));
    expect(sum(repeated)).toBe(400);
    expect(repeated.length).toBeLessThanOrEqual(3);
    expect(repeated.every((row: any) => row.reason === 'EXPIRED' && (row.count === 1 || row.lastAt !== null))).toBe(true);
    const tampered = rows.filter((row: any) => row.reason === 'INVALID');
    expect(sum(tampered)).toBe(600);
    expect(tampered.length).toBeLessThanOrEqual(250);
    // Beyond a window's share of different claims, they are summed up under partner `*`.
    expect(tampered.filter((row: any) => row.partner === '*').every((row: any) => row.grantJtis.length === 0)).toBe(true);
    expect(sum(tampered.filter((row: any) => row.partner === '*'))).toBeGreaterThan(0);
  });
});
