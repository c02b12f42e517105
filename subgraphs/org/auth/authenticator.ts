import type { IncomingHttpHeaders } from 'node:http';
import { listen, type Listening } from '../../../lib/db/notify.ts';
import type { OpenStore } from '../../../lib/db/store.ts';
import { ErrorCode, TwinxError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/logger.ts';
import type { Scope } from '../../../lib/tokens/scopes.ts';
import { presentedTokens, verifyPresented } from '../../../lib/tokens/headers.ts';
import type { TwinSelector } from '../../../lib/tokens/selector.ts';
import { claimedGrant, TokenProblem, unauthenticated, VerifiedCache, verifyToken, type AccessKind, type VerifiedToken } from '../../../lib/tokens/tokens.ts';
import { unrestricted, type AuditEntry, type Principal } from '../access.ts';
import type { OrgDb } from '../db.ts';
import { tokenRevoked } from '../events/outbox.ts';
import { AUTH_CHANNEL, type KeyRing } from './keys.ts';

export interface AuthenticatorOptions {
  org: string;
  db: OrgDb;
  /** The organization's store, whose NOTIFY channel carries revocations and key changes. */
  store: OpenStore;
  keys: KeyRing;
  logger: Logger;
}

/**
 * `UNAUTHENTICATED` for a request whose tokens were refused, with what the organization's audit
 * log keeps of it: the owner sees partners' refused attempts with the grants it issued, or
 * with tokens that claim to be such grants.
 */
export class RefusedTokenError extends TwinxError {
  constructor(
    refusal: TwinxError,
    readonly audit: AuditEntry[],
  ) {
    super(refusal.code, refusal.message, refusal.details);
  }
}

/** The audit entry of an authentication refused. */
function refusal(partner: string, grantJtis: string[], reason: string, claimsVerified: boolean): AuditEntry {
  return { partner, grantJtis, action: 'authenticate', twinIds: [], allowed: false, reason, claimsVerified };
}

/** The refusal of verified grants, audited once per partner they were issued to. */
function refusedGrants(problem: TokenProblem, tokens: readonly VerifiedToken[]): RefusedTokenError {
  const jtis = new Map<string, string[]>();
  for (const token of tokens) if (token.kind === 'grant') jtis.set(token.partner, [...(jtis.get(token.partner) ?? []), token.jti]);
  return new RefusedTokenError(
    unauthenticated(problem),
    [...jtis].map(([partner, grantJtis]) => refusal(partner, grantJtis, problem, true)),
  );
}

/**
 * A token refused by verification, audited with what it claims when it claims to be one of
 * `org`'s grants (expired, tampered, of a retired key, of the wrong type...). Other errors pass.
 */
function refusedToken(org: string, token: string, error: unknown): unknown {
  if (!(error instanceof TwinxError) || typeof error.details.reason !== 'string') return error;
  const claimed = claimedGrant(token, org);
  if (!claimed) return error;
  return new RefusedTokenError(error, [refusal(claimed.partner, claimed.jti === null ? [] : [claimed.jti], error.details.reason, false)]);
}

/** Combines verified tokens into the caller: a member, or a partner whose grants add up. */
function principalOf(tokens: VerifiedToken[]): Principal {
  const tokenIds = tokens.map((token) => token.jti);
  const [first] = tokens;
  if (first!.kind === 'member') {
    if (tokens.length > 1) throw refusedGrants(TokenProblem.INVALID, tokens);
    return { ...unrestricted('member', first!.subject, first!.scopes), tokenIds };
  }
  const grants = tokens.map((token) => {
    // One request speaks for one partner: grants of different partners never add up.
    if (token.kind !== 'grant' || token.partner !== first!.partner) throw refusedGrants(TokenProblem.INVALID, tokens);
    return token;
  });
  return partnerPrincipal(first!.partner, grants);
}

/** What a grant carries for authorization: its id, scopes and selector. */
export interface GrantReach {
  jti: string;
  scopes: readonly Scope[];
  selector: TwinSelector;
}

/**
 * A partner holding these grants, as authorization sees it: per scope, the selectors of the
 * grants carrying it (grants add up). Also what administration previews grants with.
 */
export function partnerPrincipal(partner: string, grants: readonly GrantReach[]): Principal {
  const scopes = new Map<Scope, TwinSelector[]>();
  for (const grant of grants) for (const scope of grant.scopes) scopes.set(scope, [...(scopes.get(scope) ?? []), grant.selector]);
  return { kind: 'partner', subject: partner, scopes, tokenIds: grants.map((grant) => grant.jti) };
}

/** How a subgraph learns who calls it. */
export interface Authenticator {
  /** Verifies every token of a request; throws `UNAUTHENTICATED` with a reason otherwise. */
  authenticate(headers: IncomingHttpHeaders): Promise<Principal>;
  /** Resolves once every key change and revocation committed before the call is in effect here. */
  sync(): Promise<void>;
  /**
   * Calls `listener` after each key change, revocation or event added to the outbox that this
   * process hears of, wherever it was made, and each time it starts hearing of them (again).
   */
  onChange?(listener: () => void): void;
  /** Whether those reach this process as they happen now (else they may go unheard). */
  readonly listening?: boolean;
}

/** Every caller is an unrestricted member: for benchmarks' baselines only. */
export const openAccess: Authenticator = { authenticate: async () => unrestricted('member', 'open'), sync: async () => undefined };

/**
 * Turns a request's tokens into a principal. Signatures and claims are checked against the
 * organization's own keys. Revocations and key changes reach every replica through Postgres
 * NOTIFY, milliseconds after they commit; a replica that revokes through GraphQL answers only
 * once it refuses the token itself (`sync`). While the channel is down (found out within a
 * heartbeat), each request asks the database instead, so a revocation never goes unnoticed.
 */
export class OrgAuthenticator implements Authenticator {
  private revoked = new Set<string>();
  /** Verified tokens by their text, until they expire. Emptied whenever keys change; revocation is checked apart. */
  private readonly verified = new VerifiedCache<VerifiedToken>();
  private listener?: Listening;
  private channelUp = false;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private reloading: Promise<void> = Promise.resolve();
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly options: AuthenticatorOptions) {}

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Fails if the database cannot be reached at start. */
  async start(): Promise<void> {
    try {
      await this.listen();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Whether changes reach this process as they happen (else each request asks the database for revocations). */
  get listening(): boolean {
    return this.channelUp;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.listener?.close();
  }

  private async listen(): Promise<void> {
    let listening: Listening | undefined;
    const lost = (error?: Error) => {
      if (this.listener !== listening && listening !== undefined) return;
      this.channelUp = false;
      this.listener = undefined;
      void listening?.close();
      if (this.stopped) return;
      this.options.logger.warn({ err: error }, 'revocation channel lost; checking revocations in the database until it is back');
      // A failed attempt comes back here through `lost` and schedules the next one.
      this.retry = setTimeout(() => this.listen().catch(() => undefined), 1000);
    };
    const onMessage = (payload: string) => {
      if (payload === 'keys') {
        this.verified.clear();
        // Cleared again once the keys are read: a verification made meanwhile, with the keys as they were, is not kept.
        this.reloading = this.options.keys
          .reload()
          .then(() => this.verified.clear())
          .catch((error) => this.options.logger.error({ err: error }, 'key reload failed'));
      } else if (payload.startsWith('revoked:')) this.revoked.add(payload.slice('revoked:'.length));
      for (const listener of this.listeners) listener();
    };
    try {
      // Listen first, then read: a revocation committed in between is seen by one or the other.
      listening = await listen(this.options.store, AUTH_CHANNEL, { name: 'twinx-auth-listener', onMessage, onLost: lost });
      this.listener = listening;
      this.verified.clear();
      const rows = await this.options.db.token.findMany({ where: { revokedAt: { not: null }, expiresAt: { gt: new Date() } }, select: { jti: true } });
      this.revoked = new Set(rows.map((row) => row.jti));
      await this.options.keys.reload();
    } catch (error) {
      lost(error as Error);
      throw error;
    }
    // Unless it was lost meanwhile (silent: found out by its heartbeat).
    this.channelUp = this.listener === listening;
    // What was announced while nobody listened is looked at now.
    if (this.channelUp) for (const listener of this.listeners) listener();
  }

  async sync(): Promise<void> {
    // Postgres delivers a session's notifications before answering its next query: one round
    // trip on the listening connection brings every earlier change in.
    if (this.channelUp) await this.listener?.ping();
    await this.reloading;
  }

  /**
   * Verifies a token, or recalls its verification. While the channel that announces key
   * changes is down, nothing is recalled (`authenticate` re-reads the keys first).
   */
  private async verify(token: string, kinds: readonly AccessKind[]): Promise<VerifiedToken> {
    const { org, keys } = this.options;
    if (!this.channelUp) return verifyToken(token, keys.getKey, { org, kinds });
    const known = this.verified.get(token, kinds);
    if (known) {
      if (known.expiresAt.getTime() > Date.now()) return known;
      throw unauthenticated(TokenProblem.EXPIRED);
    }
    const { epoch } = this.verified;
    const verified = await verifyToken(token, keys.getKey, { org, kinds });
    this.verified.set(token, verified, epoch);
    return verified;
  }

  private async revokedAmong(jtis: string[]): Promise<string[]> {
    if (this.channelUp) return jtis.filter((jti) => this.revoked.has(jti));
    const rows = await this.options.db.token.findMany({ where: { jti: { in: jtis }, revokedAt: { not: null } }, select: { jti: true } });
    return rows.map((row) => row.jti);
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    const presented = presentedTokens(headers);
    if (presented.bearer === undefined && presented.grants.length === 0) throw unauthenticated(TokenProblem.MISSING);
    // While key changes may go unannounced, the keys are re-read once per request.
    if (!this.channelUp) await this.options.keys.reload();
    const verified = await verifyPresented(presented, (token, kinds) =>
      this.verify(token, kinds).catch((error: unknown) => {
        throw refusedToken(this.options.org, token, error);
      }),
    );
    const revoked = new Set(await this.revokedAmong(verified.map((token) => token.jti)));
    // A partner still using a revoked grant is worth its owner's attention: audited.
    if (revoked.size > 0)
      throw refusedGrants(
        TokenProblem.REVOKED,
        verified.filter((token) => revoked.has(token.jti)),
      );
    return principalOf(verified);
  }
}

/**
 * Marks a token revoked, in one transaction with telling every replica (NOTIFY) and, for a
 * grant, the network (outbox: gateways end the partner's live subscriptions).
 */
export async function revokeToken(db: OrgDb, org: string, jti: string, kind: 'MEMBER' | 'GRANT', revokedBy: string) {
  return db.$transaction(async (tx) => {
    const { count } = await tx.token.updateMany({ where: { jti, kind, revokedAt: null }, data: { revokedAt: new Date(), revokedBy } });
    const token = await tx.token.findUnique({ where: { jti } });
    if (!token || token.kind !== kind) throw new TwinxError(ErrorCode.NOT_FOUND, `No ${kind === 'GRANT' ? 'grant' : 'member token'} ${jti}.`, { jti });
    if (count === 1) {
      await tx.$executeRaw`SELECT pg_notify(${AUTH_CHANNEL}, ${`revoked:${jti}`})`;
      await tokenRevoked(tx, org, { ...token, kind });
    }
    return token;
  });
}
