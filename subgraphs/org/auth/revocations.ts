import type { JWK } from 'jose';
import { sendJson, type Route } from '../../../lib/http.ts';
import type { RevocationList } from '../../../lib/tokens/revocations.ts';
import type { OrgDb } from '../db.ts';
import type { KeyRing } from './keys.ts';

/** The access this organization closed, as gateways and the directory read it (lib/tokens/revocations.ts). */
async function revocationList(db: OrgDb): Promise<RevocationList> {
  const [tokens, keys] = await Promise.all([
    db.token.findMany({ where: { revokedAt: { not: null }, expiresAt: { gt: new Date() } }, select: { jti: true, kind: true, expiresAt: true } }),
    db.signingKey.findMany({ where: { retiredAt: { not: null } }, select: { kid: true, retiredAt: true, publicJwk: true } }),
  ]);
  return {
    revoked: tokens.map((token) => ({ jti: token.jti, kind: token.kind, expiresAt: token.expiresAt.toISOString() })),
    retiredKeys: keys.map((key) => ({ kid: key.kid, retiredAt: key.retiredAt!.toISOString(), jwk: key.publicJwk as JWK & { kid: string } })),
  };
}

/** `GET /.well-known/twinx/revocations`: public, like the JWKS beside it (ids of revoked tokens tell nothing else). */
export function revocationsRoute(db: OrgDb): Route {
  return async (_req, res) => sendJson(res, 200, await revocationList(db), { 'cache-control': 'no-store' });
}

/** `GET /.well-known/jwks.json`: the keys' public halves, for whoever verifies their tokens. */
export function jwksRoute(keys: KeyRing): Route {
  return async (_req, res) => sendJson(res, 200, await keys.jwks(), { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' });
}
