import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { IncomingHttpHeaders } from 'node:http';
import { presentedTokens } from './headers.ts';
import { claimedIssuer, TokenProblem, unauthenticated, verifyToken, type VerifiedToken } from './tokens.ts';

/**
 * The public keys of every member organization, from their JWKS URLs: fetched when first
 * needed, cached, and fetched again when a token names an unknown key (jose's remote JWK set,
 * with a cooldown so that unknown kids cannot hammer an organization).
 */
export class NetworkKeys {
  private readonly sets = new Map<string, { url: string; getKey: JWTVerifyGetKey }>();

  constructor(private readonly jwksUrlOf: (org: string) => string | undefined) {}

  /** Key lookup for tokens of `org`; undefined for an organization that is not a member. */
  getKey(org: string): JWTVerifyGetKey | undefined {
    const url = this.jwksUrlOf(org);
    if (url === undefined) return undefined;
    let entry = this.sets.get(org);
    if (entry?.url !== url) {
      entry = { url, getKey: createRemoteJWKSet(new URL(url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 5_000, timeoutDuration: 3_000 }) };
      this.sets.set(org, entry);
    }
    return entry.getKey;
  }
}

/** A verified token and its text, to forward to the organization that issued it. */
export type PresentedToken = VerifiedToken & { token: string };

/**
 * Verifies every token of a request, each against the keys of the organization that issued
 * it (signature, `typ`, `iss`, `aud`, times, claims). Revocation is for the issuer (and the
 * directory) to check. A token of an organization that is not a member is refused.
 */
export async function verifyNetworkTokens(headers: IncomingHttpHeaders | Record<string, string | undefined>, keys: NetworkKeys): Promise<PresentedToken[]> {
  const { bearer, grants } = presentedTokens(headers);
  const verify = (token: string, kinds: ('member' | 'grant')[]) => {
    const org = claimedIssuer(token);
    const getKey = org === null ? undefined : keys.getKey(org);
    if (org === null || getKey === undefined) throw unauthenticated(TokenProblem.INVALID);
    return verifyToken(token, getKey, { org, kinds }).then((verified) => ({ ...verified, token }));
  };
  return Promise.all([...(bearer === undefined ? [] : [verify(bearer, ['member', 'grant'])]), ...grants.map((token) => verify(token, ['grant']))]);
}
