import { errors, importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { verifyPresented, type Presented } from './headers.ts';
import { claimedIssuer, TOKEN_ALGORITHM, TokenProblem, unauthenticated, VerifiedCache, verifyToken, type TokenKind, type VerifiedToken } from './tokens.ts';

/** A verified token and its text, to forward to the organization that issued it. */
export type PresentedToken = VerifiedToken & { token: string };

const jwksSchema = z.object({ keys: z.array(z.object({ kid: z.string().min(1).max(128) }).passthrough()).max(100) });

/** Shortest time between two reads of one organization's JWKS prompted by unknown key ids (a flood of made-up ids costs one read per second), in ms. */
const COOLDOWN_MS = 1000;

/** A public key, and since when it is retired. */
interface KnownKey {
  key: CryptoKey;
  /** Time (ms) from which nothing it signs counts; `Infinity` while it is in use. */
  retiredAt: number;
}

/**
 * One organization's public keys, as learned from its JWKS. A key stays known until it is
 * retired (announced, or absent from a later read of the JWKS), not until a cache expires: an
 * organization being down does not make its keys unknown (ARCHITECTURE.md, "Trust between
 * members"). An unknown key id prompts a read, at most once per cooldown. A retired key is kept
 * for what it signed before it was retired: events a subscription replays.
 */
class OrgKeys {
  private readonly keys = new Map<string, KnownKey>();
  private lastRead = 0;
  private reading?: Promise<void>;

  constructor(readonly jwksUrl: string) {}

  /** Reads the JWKS: keys it no longer lists are retired from now. */
  refresh(): Promise<void> {
    this.reading ??= (async () => {
      try {
        this.lastRead = Date.now();
        const response = await fetch(this.jwksUrl, { signal: AbortSignal.timeout(3000) });
        if (!response.ok) throw new Error(`${this.jwksUrl}: HTTP ${response.status}`);
        const { keys } = jwksSchema.parse(await response.json());
        const listed = new Set(keys.map((jwk) => jwk.kid));
        for (const jwk of keys) if (!this.keys.has(jwk.kid)) this.keys.set(jwk.kid, { key: await importKey(jwk), retiredAt: Infinity });
        for (const kid of this.keys.keys()) if (!listed.has(kid)) this.retire(kid, Date.now());
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /**
   * Key lookup for what was signed at `at` (ms): a key retired since then still counts for it.
   * An unknown key id (a key the organization may have just created) makes it read the JWKS:
   * at once for a message on the bus (only the organization can publish on its subjects), once
   * the cooldown since the last read has passed for a token (anyone can present one): a wait,
   * never a wrong refusal.
   */
  keyAt(at: number, cooldown: boolean): JWTVerifyGetKey {
    return async ({ kid }) => {
      if (typeof kid !== 'string') throw new errors.JWKSNoMatchingKey();
      if (!this.keys.has(kid)) {
        if (cooldown) await sleep(Math.max(0, this.lastRead + COOLDOWN_MS - Date.now()));
        if (!this.keys.has(kid)) await this.refresh();
      }
      const known = this.keys.get(kid);
      if (!known || known.retiredAt <= at) throw new errors.JWKSNoMatchingKey();
      return known.key;
    };
  }

  retire(kid: string, at: number, jwk?: JWK): Promise<void> | void {
    const known = this.keys.get(kid);
    if (known) known.retiredAt = Math.min(known.retiredAt, at);
    else if (jwk) return importKey(jwk).then((key) => void this.keys.set(kid, { key, retiredAt: at }));
  }
}

function importKey(jwk: JWK): Promise<CryptoKey> {
  return importJWK(jwk, TOKEN_ALGORITHM) as Promise<CryptoKey>;
}

/**
 * The public keys of every member organization (and of the network operator), from their JWKS
 * URLs, for tokens and for signed bus messages. Verified tokens are remembered for a minute at
 * most; a retired key or a member leaving forgets them at once.
 */
export class NetworkKeys {
  private readonly orgs = new Map<string, OrgKeys>();
  private readonly verified = new VerifiedCache<PresentedToken>(60_000);

  /**
   * `jwksUrlOf` answers for members (and the operator) only: any other issuer is unknown.
   * `isSuspended`: grants held by a suspended member are refused too.
   */
  constructor(
    private readonly jwksUrlOf: (org: string) => string | undefined,
    private readonly isSuspended: (org: string) => boolean = () => false,
  ) {}

  private keysOf(org: string): OrgKeys | undefined {
    const url = this.jwksUrlOf(org);
    if (url === undefined) return undefined;
    let keys = this.orgs.get(org);
    if (keys?.jwksUrl !== url) {
      keys = new OrgKeys(url);
      this.orgs.set(org, keys);
    }
    return keys;
  }

  /** Key lookup for tokens `org` signed; undefined for an organization that is not a member. */
  getKey(org: string): JWTVerifyGetKey | undefined {
    return this.keysOf(org)?.keyAt(Date.now(), true);
  }

  /** Key lookup for a message `org` signed that the bus stored at `at` (ms); undefined for an organization that is not a member. */
  messageKey(org: string, at: number): JWTVerifyGetKey | undefined {
    return this.keysOf(org)?.keyAt(at, false);
  }

  /** Reads an organization's JWKS now (e.g. when it joins), so that its keys are known before they are needed. */
  async refresh(org: string): Promise<void> {
    await this.keysOf(org)?.refresh();
  }

  /**
   * A key retired by its organization (`at`, ms): nothing it signs from then on counts. `jwk`
   * makes a key never seen known for what it signed before.
   */
  async retire(org: string, kid: string, at: number, jwk?: JWK): Promise<void> {
    await this.keysOf(org)?.retire(kid, at, jwk);
    this.verified.clear();
  }

  /** Membership changed: tokens verified for an organization that left must not be recalled. */
  forgetVerified(): void {
    this.verified.clear();
  }

  /** Verifies a token against its issuer's keys, or recalls its verification. */
  async verify(token: string, kinds: readonly TokenKind[]): Promise<PresentedToken> {
    const known = this.verified.get(token, kinds);
    if (known && known.expiresAt.getTime() > Date.now()) return known;
    const org = claimedIssuer(token);
    const getKey = org === null ? undefined : this.getKey(org);
    if (org === null || getKey === undefined) throw unauthenticated(TokenProblem.INVALID);
    const verified = { ...(await verifyToken(token, getKey, { org, kinds })), token };
    if (verified.kind === 'grant' && this.isSuspended(verified.partner)) throw unauthenticated(TokenProblem.INVALID);
    this.verified.set(token, verified);
    return verified;
  }
}

/**
 * Verifies every token of a request, each against the keys of the organization that issued
 * it (signature, `typ`, `iss`, `aud`, times, claims). Revocation is for the issuer (and the
 * directory) to check. A token of an organization that is not a member is refused.
 */
export function verifyNetworkTokens(presented: Presented, keys: NetworkKeys): Promise<PresentedToken[]> {
  return verifyPresented(presented, (token, kinds) => keys.verify(token, kinds));
}

/** Access closed after tokens were verified: a token revoked, a key retired, an organization taken out of the network. */
export type ClosedAccess =
  { kind: 'revoked'; org: string; jti: string } | { kind: 'key-retired'; org: string; kid: string } | { kind: 'suspended'; org: string };

/** Why a token no longer counts once `closed` happened, or null when it still counts. */
export function closedFor(closed: ClosedAccess, token: VerifiedToken): TokenProblem | null {
  switch (closed.kind) {
    case 'revoked':
      // An organization revokes its own tokens only.
      return token.org === closed.org && token.jti === closed.jti ? TokenProblem.REVOKED : null;
    case 'key-retired':
      return token.org === closed.org && token.kid === closed.kid ? TokenProblem.REVOKED : null;
    case 'suspended':
      // The suspended organization's own tokens, and the grants others gave it.
      return token.org === closed.org || (token.kind === 'grant' && token.partner === closed.org) ? TokenProblem.INVALID : null;
  }
}
