import { randomUUID } from 'node:crypto';
import { base64url, decodeProtectedHeader, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '../../lib/tokens/scopes.ts';
import { MAX_TOKEN_LENGTH, TOKEN_TYPES } from '../../lib/tokens/tokens.ts';
import { createSigningKey, retireKey } from '../../subgraphs/org/auth/keys.ts';
import { bearer, KEY_SECRET, startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

/**
 * Tokens an attacker could present to an organization. Each one must be refused with
 * `UNAUTHENTICATED` and the exact reason, with HTTP 401, with nothing else said about why, and
 * without anything having changed.
 */

const disposers = new Disposers();
let acme: TestOrg;
let globex: TestOrg;
/** acme's real signing key, as a thief of its private key (or its own code) would have it. */
let acmeKey: { kid: string; privateKey: CryptoKey };
/** acme's published public key. */
let acmeJwk: JWK;
/** Key ids that must never appear in an answer. */
const kids = new Set<string>();

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
  globex = await startOrg(disposers, 'globex');
  acmeKey = await acme.issuer.keys.signingKey();
  kids.add(acmeKey.kid);
  kids.add((await globex.issuer.keys.signingKey()).kid);
  const jwks = (await (await fetch(new URL('/.well-known/jwks.json', acme.url))).json()) as { keys: JWK[] };
  acmeJwk = jwks.keys.find((key) => key.kid === acmeKey.kid)!;
  expect(acmeJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
});
afterAll(() => disposers.dispose());

const ACME = 'twinx:org:acme';
const CREATE = `mutation($input: TwinInput!) { acme { createTwin(input: $input) { id } } }`;
const ISSUE_MEMBER_TOKEN = `mutation($input: MemberTokenInput!) { acme { issueMemberToken(input: $input) { token } } }`;
const REVOKE_GRANT = `mutation($jti: ID!) { acme { revokeGrant(jti: $jti) { jti active } } }`;
const READ = `query { acme { twins { edges { node { id } } } } }`;
const AUDIT = `query($jti: ID!) { acme { auditEvents(filter: { grantJti: $jti }) { edges { node { action allowed reason twinIds } } } } }`;
const HOUR = 3600;

interface Operation {
  query: string;
  variables?: Record<string, unknown>;
}

let twins = 0;
/** A createTwin of a twin that does not exist yet. */
function createAttempt(id = `acme:hostile-${++twins}`, extra: Record<string, unknown> = {}): Operation {
  return { query: CREATE, variables: { input: { id, name: 'Hostile', kind: 'press', tags: ['hostile'], ...extra } } };
}

/** The raw HTTP answer, so that everything said to the caller can be inspected. */
async function send(operation: Operation, headers: Record<string, string>) {
  const response = await fetch(acme.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(operation),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as { data?: any; errors?: any[] } };
}

/** What a refused request must leave as it was. */
async function state() {
  return {
    twins: await acme.db.twin.count(),
    tokens: await acme.db.token.count(),
    revoked: await acme.db.token.count({ where: { revokedAt: { not: null } } }),
    keys: await acme.db.signingKey.count(),
  };
}

/** Sends the operation (a createTwin by default) and checks that it is refused for `reason`, and that nothing changed. */
async function expectRefused(headers: Record<string, string>, reason: string, operation: Operation = createAttempt()) {
  const before = await state();
  const response = await send(operation, headers);
  expect(response.status).toBe(401);
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors![0].extensions).toEqual({ code: 'UNAUTHENTICATED', reason });
  expect(response.text).not.toMatch(/signature|stack|jws|jwk/i);
  for (const kid of kids) expect(response.text).not.toContain(kid);
  expect(await state()).toEqual(before);
  return response;
}

/** Sends a createTwin and checks that it worked: the control for a refusal. */
async function expectCreated(headers: Record<string, string>, operation: Operation = createAttempt()) {
  const before = await acme.db.twin.count();
  const response = await send(operation, headers);
  expect(response.body.errors).toBeUndefined();
  expect(response.status).toBe(200);
  expect(response.body.data.acme.createTwin.id).toBe((operation.variables!.input as { id: string }).id);
  expect(await acme.db.twin.count()).toBe(before + 1);
}

/** Claims of an acme admin member token, valid for an hour unless overridden (`undefined` drops a claim). */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ACME, aud: ACME, sub: 'mallory', jti: randomUUID(), iat: now, nbf: now, exp: now + HOUR, scope: SCOPES.join(' '), ...overrides };
}

/** Claims of an acme grant to globex. */
function grantClaims(overrides: Record<string, unknown> = {}): JWTPayload {
  return claims({ sub: 'globex', scope: 'twins:read twins:write', sel: { ids: [], idGlobs: ['acme:*'], kinds: [], tags: [] }, ...overrides });
}

/** Signs with acme's real key (by default) and header. */
function sign(payload: JWTPayload, header: Record<string, unknown> = {}, key: CryptoKey = acmeKey.privateKey): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: acmeKey.kid, typ: TOKEN_TYPES.member, ...header }).sign(key);
}

const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
const decode = (segment: string) => JSON.parse(new TextDecoder().decode(base64url.decode(segment))) as Record<string, any>;

/** Changes the payload of a signed token and keeps its header and signature. */
function tamper(token: string, edit: (payload: Record<string, any>) => void): string {
  const [header, payload, signature] = token.split('.');
  const changed = decode(payload!);
  edit(changed);
  return `${header}.${encode(changed)}.${signature}`;
}

describe('controls', () => {
  it('accepts a token forged with acme’s own key and correct claims, so that every refusal below is about the one thing changed', async () => {
    await expectCreated(bearer(await sign(claims())));
    await expectCreated(bearer(await sign(grantClaims(), { typ: TOKEN_TYPES.grant })));
    await expectCreated(bearer(acme.adminToken));
  });
});

describe('hostile tokens', () => {
  it('refuses a request without a token (MISSING), with another scheme or garbage (MALFORMED)', async () => {
    await expectRefused({}, 'MISSING');
    await expectRefused({ authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }, 'MALFORMED');
    await expectRefused({ authorization: 'Bearer' }, 'MALFORMED');
    await expectRefused({ authorization: `Bearer ${acme.adminToken} extra` }, 'MALFORMED');
    await expectRefused(bearer('garbage'), 'MALFORMED');
    await expectRefused(bearer('not.a.jwt'), 'MALFORMED');
    await expectRefused(bearer(`${encode({ alg: 'EdDSA' }).slice(0, -2)}!!.e30.AAAA`), 'MALFORMED');
    await expectRefused({ 'twin-grants': 'garbage' }, 'MALFORMED');
    // The same, for a query: nothing is read either.
    const read = await expectRefused({}, 'MISSING', { query: READ });
    expect(read.body.data ?? null).toBeNull();
  });

  it('refuses an unsecured (alg: none) token with valid admin claims', async () => {
    const header = { alg: 'none', kid: acmeKey.kid, typ: TOKEN_TYPES.member };
    await expectRefused(bearer(`${encode(header)}.${encode(claims())}.`), 'INVALID');
    await expectRefused(bearer(`${encode({ alg: 'none', typ: TOKEN_TYPES.member })}.${encode(claims())}.`), 'INVALID');
    // With the signature of a real token kept as it was.
    const real = acme.adminToken.split('.');
    await expectRefused(bearer(`${encode(header)}.${real[1]}.${real[2]}`), 'INVALID');
  });

  it('refuses HS256 signed with acme’s public key as the HMAC secret (algorithm confusion)', async () => {
    const secrets = [base64url.decode(acmeJwk.x!), new TextEncoder().encode(JSON.stringify(acmeJwk)), new TextEncoder().encode(acmeJwk.x!)];
    for (const secret of secrets) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: acmeKey.kid, typ: TOKEN_TYPES.member }).sign(secret);
      await expectRefused(bearer(token), 'INVALID');
    }
  });

  it('refuses a token signed by a key that is not acme’s, with acme’s kid, an unknown kid or no kid', async () => {
    const { privateKey } = await generateKeyPair('Ed25519');
    const unknownKid = 'mallory-key-1';
    kids.add(unknownKid);
    await expectRefused(bearer(await sign(claims(), {}, privateKey)), 'INVALID');
    await expectRefused(bearer(await sign(claims(), { kid: unknownKid }, privateKey)), 'INVALID');
    await expectRefused(bearer(await sign(claims(), { kid: undefined }, privateKey)), 'INVALID');
    // acme's real key, but a kid that does not name it, or none.
    await expectRefused(bearer(await sign(claims(), { kid: unknownKid })), 'INVALID');
    await expectRefused(bearer(await sign(claims(), { kid: undefined })), 'INVALID');
    // A grant signed by a stranger, in the grants header.
    await expectRefused({ 'twin-grants': await sign(grantClaims(), { typ: TOKEN_TYPES.grant }, privateKey) }, 'INVALID');
  });

  it('refuses globex’s valid tokens at acme', async () => {
    await expectRefused(bearer(globex.adminToken), 'INVALID');
    // A grant globex gave acme is good at globex, not at acme.
    const { token } = await globex.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:write'], selector: { idGlobs: ['globex:*'] } });
    await expectRefused(bearer(token), 'INVALID');
    await expectRefused({ 'twin-grants': token }, 'INVALID');
    // And globex's own key cannot speak for acme, even with acme's iss and aud.
    const globexKey = await globex.issuer.keys.signingKey();
    await expectRefused(bearer(await sign(claims(), { kid: globexKey.kid }, globexKey.privateKey)), 'INVALID');
  });

  it('refuses an expired token (EXPIRED) and one not yet valid (NOT_YET_VALID)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(bearer(await sign(claims({ iat: now - 2 * HOUR, nbf: now - 2 * HOUR, exp: now - HOUR }))), 'EXPIRED');
    await expectRefused(bearer(await sign(claims({ iat: now - 2 * HOUR, nbf: now - 2 * HOUR, exp: now - 60 }))), 'EXPIRED');
    await expectRefused({ 'twin-grants': await sign(grantClaims({ exp: now - 60 }), { typ: TOKEN_TYPES.grant }) }, 'EXPIRED');
    await expectRefused(bearer(await sign(claims({ nbf: now + HOUR, exp: now + 2 * HOUR }))), 'NOT_YET_VALID');
    await expectRefused(bearer(await sign(claims({ nbf: now + 60 }))), 'NOT_YET_VALID');
  });

  it('refuses a wrong audience or issuer, and tokens lacking a required claim', async () => {
    await expectRefused(bearer(await sign(claims({ aud: 'twinx:org:globex' }))), 'INVALID');
    await expectRefused(bearer(await sign(claims({ aud: ['twinx:org:globex', 'twinx:org:initech'] }))), 'INVALID');
    await expectRefused(bearer(await sign(claims({ iss: 'twinx:org:globex' }))), 'INVALID');
    await expectRefused(bearer(await sign(claims({ iss: 'acme' }))), 'INVALID');
    for (const claim of ['iss', 'aud', 'sub', 'jti', 'iat', 'exp', 'scope']) {
      await expectRefused(bearer(await sign(claims({ [claim]: undefined }))), 'INVALID');
    }
  });

  it('refuses a token of the wrong type', async () => {
    // Member claims under a generic typ, no typ, or the grant typ.
    await expectRefused(bearer(await sign(claims(), { typ: 'JWT' })), 'INVALID');
    await expectRefused(bearer(await sign(claims(), { typ: undefined })), 'INVALID');
    await expectRefused(bearer(await sign(claims(), { typ: TOKEN_TYPES.grant })), 'INVALID');
    // A real member token in the grants header, alone or next to a real grant.
    await expectRefused({ 'twin-grants': acme.adminToken }, 'INVALID');
    const { token: grant } = await acme.grantToken({ partner: 'globex', scopes: ['twins:write'], selector: { idGlobs: ['acme:*'] } });
    await expectRefused(bearer(grant, [acme.adminToken]), 'INVALID');
    // A member token cannot be combined with grants either.
    await expectRefused(bearer(acme.adminToken, [grant]), 'INVALID');
  });

  it('refuses a grant-typed token carrying scopes grants cannot carry, even signed with the real key', async () => {
    const grantTyp = { typ: TOKEN_TYPES.grant };
    const admin = await sign(grantClaims({ scope: 'twins:read twins:write grants:admin' }), grantTyp);
    await expectRefused(bearer(admin), 'INVALID');
    await expectRefused({ 'twin-grants': admin }, 'INVALID');
    const issue = { query: ISSUE_MEMBER_TOKEN, variables: { input: { subject: 'mallory', role: 'admin', expiresAt: new Date(Date.now() + 3600_000) } } };
    await expectRefused(bearer(admin), 'INVALID', issue);
    await expectRefused(bearer(await sign(grantClaims({ scope: 'audit:read' }), grantTyp)), 'INVALID');
    await expectRefused(bearer(await sign(grantClaims({ scope: SCOPES.join(' ') }), grantTyp)), 'INVALID');
    // Other grant claims out of bounds: a selector of another organization, a partner that is no slug, no selector.
    await expectRefused(bearer(await sign(grantClaims({ sel: { ids: [], idGlobs: ['globex:*'], kinds: [], tags: [] } }), grantTyp)), 'INVALID');
    await expectRefused(bearer(await sign(grantClaims({ sub: 'Mallory Inc.' }), grantTyp)), 'INVALID');
    await expectRefused(bearer(await sign(grantClaims({ sel: undefined }), grantTyp)), 'INVALID');
    // A member token with a scope that does not exist.
    await expectRefused(bearer(await sign(claims({ scope: 'twins:write root' }))), 'INVALID');
  });

  it('refuses a real token whose payload was changed: a viewer’s scopes, a grant’s selector', async () => {
    const viewer = await acme.memberToken('viewer', 'eve');
    const forbidden = await send(createAttempt(), bearer(viewer));
    expect(forbidden.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const widened = tamper(viewer, (payload) => (payload.scope = `${payload.scope} twins:write`));
    expect(decode(widened.split('.')[1]!).scope).toContain('twins:write');
    await expectRefused(bearer(widened), 'INVALID');
    await expectRefused(bearer(tamper(viewer, (payload) => (payload.scope = SCOPES.join(' ')))), 'INVALID', createAttempt());
    await expectRefused(bearer(tamper(viewer, (payload) => (payload.exp += HOUR))), 'INVALID');

    const { token: grant } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'twins:write'], selector: { ids: ['acme:granted-1'] } });
    await expectCreated(bearer(grant), createAttempt('acme:granted-1'));
    const outside = await send(createAttempt('acme:outside-1'), bearer(grant));
    expect(outside.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const everything = tamper(grant, (payload) => (payload.sel = { ids: [], idGlobs: ['acme:*'], kinds: [], tags: [] }));
    await expectRefused(bearer(everything), 'INVALID', createAttempt('acme:outside-1'));
    await expectRefused({ 'twin-grants': everything }, 'INVALID', createAttempt('acme:outside-2'));
    // Next to the genuine grant, the tampered one spoils the request rather than adding up.
    await expectRefused(bearer(grant, [everything]), 'INVALID', createAttempt('acme:outside-3'));
    await expectRefused(bearer(tamper(grant, (payload) => (payload.scope = 'twins:read twins:write grants:admin'))), 'INVALID');
    await expectRefused(bearer(tamper(grant, (payload) => (payload.sub = 'initech'))), 'INVALID');
    expect(await acme.db.twin.count({ where: { id: { startsWith: 'outside-' } } })).toBe(0);
  });

  it('refuses a revoked grant at once (REVOKED), and a hostile token cannot revoke', async () => {
    for (let round = 1; round <= 5; round++) {
      const { token, jti } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'twins:write'], selector: { idGlobs: [`acme:rev${round}-*`] } });
      await expectCreated(bearer(token), createAttempt(`acme:rev${round}-1`));
      // A token that is not acme's cannot revoke it.
      const revokeOp = { query: REVOKE_GRANT, variables: { jti } };
      await expectRefused(bearer(globex.adminToken), 'INVALID', revokeOp);
      await expectRefused(bearer(await sign(claims(), { kid: 'mallory-key-1' })), 'INVALID', revokeOp);
      await expectCreated(bearer(token), createAttempt(`acme:rev${round}-2`));

      const revoked = await acme.request(REVOKE_GRANT, { jti });
      expect(revoked.errors).toBeUndefined();
      expect(revoked.data.acme.revokeGrant).toEqual({ jti, active: false });
      await expectRefused(bearer(token), 'REVOKED', createAttempt(`acme:rev${round}-3`));
      await expectRefused({ 'twin-grants': token }, 'REVOKED', createAttempt(`acme:rev${round}-3`));
      await expectRefused(bearer(token), 'REVOKED', { query: `query { acme { twin(id: "acme:rev${round}-1") { id name } } }` });
      // The refused attempts are in the audit log, and no access after the revocation is.
      const audited = await acme.request(AUDIT, { jti });
      expect(audited.errors).toBeUndefined();
      const events = audited.data.acme.auditEvents.edges.map((edge: any) => edge.node);
      const allowed = events.filter((event: any) => event.allowed).map((event: any) => `${event.action} ${event.twinIds.join(',')}`);
      expect(allowed.sort()).toEqual([`write acme:rev${round}-1`, `write acme:rev${round}-2`]);
      expect(events.filter((event: any) => !event.allowed).length).toBeGreaterThan(0);
      expect(events.filter((event: any) => !event.allowed).every((event: any) => event.reason === 'REVOKED')).toBe(true);
    }
    // A revoked grant next to a valid one of the same partner spoils the request.
    const { token: good } = await acme.grantToken({ partner: 'globex', scopes: ['twins:write'], selector: { idGlobs: ['acme:mix-*'] } });
    const { token: bad, jti } = await acme.grantToken({ partner: 'globex', scopes: ['twins:write'], selector: { idGlobs: ['acme:mix-*'] } });
    await expectCreated(bearer(good, [bad]), createAttempt('acme:mix-1'));
    await acme.request(REVOKE_GRANT, { jti });
    await expectRefused(bearer(good, [bad]), 'REVOKED', createAttempt('acme:mix-2'));
    // A revoked member token too.
    const viewer = await acme.memberToken('viewer', 'revoked-viewer');
    expect((await send({ query: READ }, bearer(viewer))).status).toBe(200);
    const revokedMember = await acme.request(`mutation($jti: ID!) { acme { revokeMemberToken(jti: $jti) } }`, { jti: decode(viewer.split('.')[1]!).jti });
    expect(revokedMember.errors).toBeUndefined();
    await expectRefused(bearer(viewer), 'REVOKED', { query: READ });
  });

  it('refuses a token longer than 8192 characters (MALFORMED), even one signed with the real key', async () => {
    await expectRefused(bearer('x'.repeat(MAX_TOKEN_LENGTH + 1)), 'MALFORMED');
    // The longest real token within the limit works; one more byte of claims does not.
    let pad = 0;
    let token = await sign(claims({ pad: '' }));
    pad = Math.floor(((MAX_TOKEN_LENGTH - token.length) * 3) / 4);
    token = await sign(claims({ pad: 'p'.repeat(pad) }));
    while (token.length > MAX_TOKEN_LENGTH) token = await sign(claims({ pad: 'p'.repeat(--pad) }));
    let longer = token;
    while (longer.length <= MAX_TOKEN_LENGTH) longer = await sign(claims({ pad: 'p'.repeat(++pad) }));
    expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH - 4);
    expect(longer.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
    expect(longer.length).toBeLessThan(MAX_TOKEN_LENGTH + 4);
    await expectCreated(bearer(token));
    await expectRefused(bearer(longer), 'MALFORMED');
    await expectRefused({ 'twin-grants': await sign(grantClaims({ pad: 'p'.repeat(MAX_TOKEN_LENGTH) }), { typ: TOKEN_TYPES.grant }) }, 'MALFORMED');
  });

  // Last: it retires the key that signed acme.adminToken. Keys are changed straight in the
  // database (as the CLI does): `auth.sync()` is when the change is known to be in effect.
  it('refuses tokens of a retired key, and accepts tokens issued after the rotation', async () => {
    const old = await acme.issuer.keys.signingKey();
    const operator = await acme.memberToken('operator', 'before-rotation');
    const forged = await sign(claims(), { kid: old.kid }, old.privateKey);
    await expectCreated(bearer(operator));

    const newKid = await createSigningKey(acme.db, KEY_SECRET);
    await acme.auth.sync();
    kids.add(newKid);
    expect(newKid).not.toBe(old.kid);
    const rotated = await acme.memberToken('operator', 'after-rotation');
    expect(decodeProtectedHeader(rotated).kid).toBe(newKid);
    // While both keys are current, tokens of either work.
    await expectCreated(bearer(rotated));
    await expectCreated(bearer(operator));

    expect(await retireKey(acme.db, 'acme', old.kid)).toBe(true);
    await acme.auth.sync();
    await expectRefused(bearer(operator), 'INVALID');
    await expectRefused(bearer(forged), 'INVALID');
    await expectRefused(bearer(acme.adminToken), 'INVALID');
    await expectRefused(bearer(await sign(claims(), { kid: old.kid }, old.privateKey)), 'INVALID');
    // The new key's tokens, before and after the retirement, work.
    await expectCreated(bearer(rotated));
    await expectCreated(bearer(await acme.memberToken('admin', 'after-retirement')));
    const jwks = (await (await fetch(new URL('/.well-known/jwks.json', acme.url))).json()) as { keys: JWK[] };
    expect(jwks.keys.map((key) => key.kid)).toEqual([newKid]);
  });
});
