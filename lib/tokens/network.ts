import { errors, importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ErrorCode, TwinxError } from '../errors.ts';
import { getJson } from '../http.ts';
import { presentedKinds, type Presented } from './headers.ts';
import {
  claimedIssuer,
  issuerUnavailable,
  TOKEN_ALGORITHM,
  TokenProblem,
  unauthenticated,
  VerifiedCache,
  verifyToken,
  type TokenKind,
  type Verified,
  type VerifiedToken,
} from './tokens.ts';

/** A verified token and its text, to forward to the organization that issued it. */
export type PresentedToken = VerifiedToken & { token: string };
/** A verified token (or impact statement) of one of `K`, and its text. */
export type VerifiedText<K extends TokenKind = TokenKind> = Verified<K> & { token: string };

const jwksSchema = z.object({ keys: z.array(z.object({ kid: z.string().min(1).max(128) }).passthrough()).max(100) });
/** Largest JWKS read: 100 keys of a few hundred bytes each. */
const MAX_JWKS_BYTES = 256 * 1024;
/**
 * Keys kept per organization at most: as many as its JWKS (100) and its revocation list (1,000
 * retired) may name. Past it, the keys retired longest ago are forgotten: an organization making
 * up new keys at every read of its JWKS cannot grow what gateways and the directory hold.
 */
const MAX_KEPT_KEYS = 1100;

/** Shortest time between two reads of one organization's JWKS prompted by tokens with unknown key ids (a flood of made-up ids costs one read per second), in ms. */
const TOKEN_COOLDOWN_MS = 1000;
/**
 * ... prompted by bus messages with unknown key ids, in ms: a message waits for such a read at
 * most MESSAGE_WAIT_MS, and only once per cooldown, so that a member signing with made-up keys
 * (its JWKS answering slowly) holds back the shared event feed for 0.5 s every 30 s at most.
 */
const MESSAGE_COOLDOWN_MS = 30_000;
const MESSAGE_WAIT_MS = 500;

/** A public key, and since when it is retired. */
export interface KnownKey {
  /** Its public half, as the organization's JWKS (or revocation list) gave it. */
  jwk: JWK;
  key: CryptoKey;
  /** Time (ms) from which nothing it signs counts; `Infinity` while it is in use. */
  retiredAt: number;
}

/** Where an organization's keys are kept between runs (lib/tokens/key-file.ts). */
export interface KeyStore {
  /** The keys kept for `org` as read from `jwksUrl`: none when its registered JWKS URL is another. */
  load(org: string, jwksUrl: string): Map<string, KnownKey>;
  save(org: string, jwksUrl: string, keys: ReadonlyMap<string, KnownKey>): void;
}

/**
 * One organization's public keys, as learned from its JWKS. A key stays known until it is
 * retired (announced, or absent from a later read of the JWKS), not until a cache expires: an
 * organization being down does not make its keys unknown (ARCHITECTURE.md, "Trust between
 * members"). An unknown key id prompts a read (a key the organization may have just created),
 * within limits; while the organization cannot be read, a token with such a key is neither
 * accepted nor refused (`issuerUnavailable`). A retired key is kept for what it signed before it
 * was retired: events a subscription replays.
 */
class OrgKeys {
  private lastRead = 0;
  /** When the last read failed; `-Infinity` once one succeeded. */
  private failedAt = -Infinity;
  private lastMessageRead = 0;
  private reading?: Promise<void>;

  constructor(
    readonly org: string,
    readonly jwksUrl: string,
    /** Keys already known (kept from an earlier run); every change is handed to `onChange`. */
    private readonly keys: Map<string, KnownKey>,
    /** Called for each key found retired by a read of the JWKS. */
    private readonly onRetired: (kid: string) => void,
    private readonly onChange: (keys: ReadonlyMap<string, KnownKey>) => void,
  ) {}

  /** Reads the JWKS: keys it no longer lists are retired from now. */
  refresh(): Promise<void> {
    this.reading ??= (async () => {
      try {
        this.lastRead = Date.now();
        const { keys } = jwksSchema.parse(await getJson(this.jwksUrl, 3000, MAX_JWKS_BYTES));
        this.failedAt = -Infinity;
        const listed = new Set(keys.map((jwk) => jwk.kid));
        const added = keys.filter((jwk) => !this.keys.has(jwk.kid));
        for (const jwk of added) this.keys.set(jwk.kid, { jwk, key: await importKey(jwk), retiredAt: Infinity });
        // Keys it no longer lists are retired from now (those retired from later too).
        const now = Date.now();
        const unlisted = [...this.keys].filter(([kid, known]) => !listed.has(kid) && known.retiredAt > now);
        const retired = unlisted.filter(([, known]) => known.retiredAt === Infinity).map(([kid]) => kid);
        for (const [, known] of unlisted) known.retiredAt = now;
        if (added.length > 0 || unlisted.length > 0) this.changed();
        for (const kid of retired) this.onRetired(kid);
      } catch (error) {
        this.failedAt = Date.now();
        throw error;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /**
   * Key lookup for tokens: an unknown key id waits for a read of the JWKS once the cooldown has
   * passed (a wait, never a wrong refusal); when the organization cannot be read (or could not be
   * within the cooldown), `issuerUnavailable`.
   */
  readonly tokenKey: JWTVerifyGetKey = async ({ kid }) => {
    if (typeof kid === 'string' && !this.keys.has(kid)) {
      if (Date.now() - this.failedAt < TOKEN_COOLDOWN_MS) throw issuerUnavailable(this.org);
      await sleep(Math.max(0, this.lastRead + TOKEN_COOLDOWN_MS - Date.now()));
      if (!this.keys.has(kid)) await this.refresh().catch(() => Promise.reject(issuerUnavailable(this.org)));
    }
    return this.lookup(kid, Date.now());
  };

  /** Key lookup for a message the bus stored at `at` (ms): a key retired since then still counts for it. */
  messageKey(at: number): JWTVerifyGetKey {
    return async ({ kid }) => {
      if (typeof kid === 'string' && !this.keys.has(kid) && Date.now() - this.lastMessageRead >= MESSAGE_COOLDOWN_MS) {
        this.lastMessageRead = Date.now();
        const read = this.refresh().catch(() => undefined);
        await Promise.race([read, sleep(MESSAGE_WAIT_MS)]);
      }
      return this.lookup(kid, at);
    };
  }

  private lookup(kid: unknown, at: number): CryptoKey {
    const known = typeof kid === 'string' ? this.keys.get(kid) : undefined;
    if (!known || known.retiredAt <= at) throw new errors.JWKSNoMatchingKey();
    return known.key;
  }

  /** Retires a key from `at` (ms); `jwk` makes a key never seen known for what it signed before. True when it was not retired yet. */
  async retire(kid: string, at: number, jwk?: JWK): Promise<boolean> {
    const known = this.keys.get(kid);
    if (known) {
      if (known.retiredAt <= at) return false;
      const newly = known.retiredAt === Infinity;
      known.retiredAt = at;
      this.changed();
      return newly;
    }
    if (jwk) {
      this.keys.set(kid, { jwk, key: await importKey(jwk), retiredAt: at });
      this.changed();
    }
    return false;
  }

  /** Keeps `MAX_KEPT_KEYS` at most (forgetting those retired longest ago), then hands the keys to `onChange`. */
  private changed(): void {
    const excess = this.keys.size - MAX_KEPT_KEYS;
    if (excess > 0) {
      const retired = [...this.keys].filter(([, known]) => known.retiredAt !== Infinity).sort(([, a], [, b]) => a.retiredAt - b.retiredAt);
      for (const [kid] of retired.slice(0, excess)) this.keys.delete(kid);
    }
    this.onChange(this.keys);
  }
}

export function importKey(jwk: JWK): Promise<CryptoKey> {
  return importJWK(jwk, TOKEN_ALGORITHM) as Promise<CryptoKey>;
}

/**
 * The public keys of every member organization (and of the network operator), from their JWKS
 * URLs, for tokens and for signed bus messages. Verified tokens are remembered for a minute at
 * most; a retired key or a member leaving forgets them at once.
 */
export class NetworkKeys {
  private readonly orgs = new Map<string, OrgKeys>();
  private readonly verified = new VerifiedCache<VerifiedText>(60_000);

  /**
   * `jwksUrlOf` answers for members (and the operator) only: any other issuer is unknown.
   * `isSuspended`: grants held by a suspended member are refused too. `onRetired`: a key found
   * retired by a read of its organization's JWKS (not announced). `store`: where keys are kept
   * between runs, so that an organization's tokens still verify while it is down.
   */
  constructor(
    private readonly jwksUrlOf: (org: string) => string | undefined,
    private readonly isSuspended: (org: string) => boolean = () => false,
    private readonly onRetired: (org: string, kid: string) => void = () => undefined,
    private readonly store?: KeyStore,
  ) {}

  private keysOf(org: string): OrgKeys | undefined {
    const url = this.jwksUrlOf(org);
    if (url === undefined) return undefined;
    let keys = this.orgs.get(org);
    if (keys?.jwksUrl !== url) {
      keys = new OrgKeys(
        org,
        url,
        this.store?.load(org, url) ?? new Map(),
        (kid) => {
          this.verified.clear();
          this.onRetired(org, kid);
        },
        (known) => this.store?.save(org, url, known),
      );
      this.orgs.set(org, keys);
    }
    return keys;
  }

  /** Key lookup for tokens `org` signed; undefined for an organization that is not a member. */
  getKey(org: string): JWTVerifyGetKey | undefined {
    return this.keysOf(org)?.tokenKey;
  }

  /** Key lookup for a message `org` signed that the bus stored at `at` (ms); undefined for an organization that is not a member. */
  messageKey(org: string, at: number): JWTVerifyGetKey | undefined {
    return this.keysOf(org)?.messageKey(at);
  }

  /** Reads an organization's JWKS now (when it joins, and now and then), so that its keys are known before they are needed. */
  async refresh(org: string): Promise<void> {
    await this.keysOf(org)?.refresh();
  }

  /**
   * A key retired by its organization (`at`, ms): nothing it signs from then on counts. `jwk`
   * makes a key never seen known for what it signed before. True when it was not retired yet.
   */
  async retire(org: string, kid: string, at: number, jwk?: JWK): Promise<boolean> {
    const newly = (await this.keysOf(org)?.retire(kid, at, jwk)) ?? false;
    if (newly) this.verified.clear();
    return newly;
  }

  /** How many verified tokens are remembered now. */
  get remembered(): number {
    return this.verified.size;
  }

  /** Whether a member's token is remembered verified: its issuer is known without reading the token. Nothing is recalled by this. */
  remembers(token: string): boolean {
    return this.verified.get(token, ['member', 'grant']) !== undefined;
  }

  /** Membership changed: tokens verified for an organization that left must not be recalled. */
  forgetVerified(): void {
    this.verified.clear();
  }

  /** Whether a verified token still counts: its issuer a member, a grant's holder not suspended. */
  private stillCounts(token: VerifiedText): boolean {
    return this.jwksUrlOf(token.org) !== undefined && !(token.kind === 'grant' && this.isSuspended(token.partner));
  }

  /** Verifies a token (or an impact statement) against its issuer's keys, or recalls a token's verification. */
  async verify<K extends TokenKind>(token: string, kinds: readonly K[]): Promise<VerifiedText<K>> {
    const known = this.verified.get(token, kinds) as VerifiedText<K> | undefined;
    // Checked again on recall: a verification that finished just after a suspension is not trusted.
    if (known && known.expiresAt.getTime() > Date.now() && this.stillCounts(known)) return known;
    const org = claimedIssuer(token);
    const getKey = org === null ? undefined : this.getKey(org);
    if (org === null || getKey === undefined) throw unauthenticated(TokenProblem.INVALID);
    const { epoch } = this.verified;
    const verified = { ...(await verifyToken(token, getKey, { org, kinds })), token };
    if (!this.stillCounts(verified)) throw unauthenticated(TokenProblem.INVALID);
    // A statement is verified once, where its answer arrives: remembering it would only hold memory.
    if (verified.kind !== 'impact') this.verified.set(token, verified, epoch);
    return verified;
  }
}

/** A request's tokens once verified. */
export interface NetworkTokens {
  /** The tokens that count. */
  tokens: PresentedToken[];
  /** Issuers of tokens set aside: their key is unknown and they cannot be reached to learn it. */
  setAside: string[];
}

/**
 * Verifies every token of a request, each against the keys of the organization that issued
 * it (signature, `typ`, `iss`, `aud`, times, claims). Revocation is for the issuer (and the
 * directory) to check. A token of an organization that is not a member is refused, and with it
 * the request (`onRefused` is told of each). A token whose issuer cannot be reached to learn its
 * key is set aside: never accepted (its grants do not apply), but it does not take down the
 * other tokens of the request; when nothing else is left, `UNAVAILABLE` (retry later).
 */
export async function verifyNetworkTokens(
  presented: Presented,
  keys: NetworkKeys,
  onRefused: (token: string, error: TwinxError) => void = () => undefined,
): Promise<NetworkTokens> {
  const list = presentedKinds(presented);
  const results = await Promise.allSettled(list.map(({ token, kinds }) => keys.verify(token, kinds)));
  const tokens: PresentedToken[] = [];
  const setAside: TwinxError[] = [];
  const refused: TwinxError[] = [];
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') tokens.push(result.value);
    else if (!(result.reason instanceof TwinxError)) throw result.reason;
    else if (result.reason.code === ErrorCode.UNAVAILABLE) setAside.push(result.reason);
    else {
      onRefused(list[index]!.token, result.reason);
      refused.push(result.reason);
    }
  });
  if (refused.length > 0) throw refused[0]!;
  if (tokens.length === 0 && setAside.length > 0) throw setAside[0]!;
  return { tokens, setAside: [...new Set(setAside.map((error) => String(error.details.org)))] };
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
      // As its issuer and every other place then refuse it: its key is not valid any more.
      return token.org === closed.org && token.kid === closed.kid ? TokenProblem.INVALID : null;
    case 'suspended':
      // The suspended organization's own tokens, and the grants others gave it.
      return token.org === closed.org || (token.kind === 'grant' && token.partner === closed.org) ? TokenProblem.INVALID : null;
  }
}
