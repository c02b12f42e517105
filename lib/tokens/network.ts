import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { verifyPresented, type Presented } from './headers.ts';
import { claimedIssuer, TokenProblem, unauthenticated, VerifiedCache, verifyToken, type TokenKind, type VerifiedToken } from './tokens.ts';

/**
 * The public keys of every member organization, from their JWKS URLs: fetched when first
 * needed, cached, and fetched again when a token names an unknown key (jose's remote JWK set,
 * with a cooldown so that unknown kids cannot hammer an organization).
 */
export class NetworkKeys {
  private readonly sets = new Map<string, { url: string; getKey: JWTVerifyGetKey }>();
  /**
   * Verified tokens by their text, each for a minute at most: a token's signature is checked
   * once per minute, not per request. Revocation is not this cache's concern (the issuer and
   * the directory check it per request); a retired key stops counting here within a minute.
   */
  private readonly verified = new VerifiedCache<PresentedToken>(60_000);

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

  /** Verifies a token against its issuer's keys, or recalls its verification. */
  async verify(token: string, kinds: readonly TokenKind[]): Promise<PresentedToken> {
    const known = this.verified.get(token, kinds);
    if (known && known.expiresAt.getTime() > Date.now()) return known;
    const org = claimedIssuer(token);
    const getKey = org === null ? undefined : this.getKey(org);
    if (org === null || getKey === undefined) throw unauthenticated(TokenProblem.INVALID);
    const verified = { ...(await verifyToken(token, getKey, { org, kinds })), token };
    this.verified.set(token, verified);
    return verified;
  }
}

/** A verified token and its text, to forward to the organization that issued it. */
export type PresentedToken = VerifiedToken & { token: string };

/**
 * Verifies every token of a request, each against the keys of the organization that issued
 * it (signature, `typ`, `iss`, `aud`, times, claims). Revocation is for the issuer (and the
 * directory) to check. A token of an organization that is not a member is refused.
 */
export function verifyNetworkTokens(presented: Presented, keys: NetworkKeys): Promise<PresentedToken[]> {
  return verifyPresented(presented, (token, kinds) => keys.verify(token, kinds));
}
