import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ErrorCode, TwinxError } from '../errors.ts';
import { isValidSlug } from '../ids.ts';
import { MAX_STATEMENT_LENGTH, supplierLossSchema } from '../impact/protocol.ts';
import type { SupplierLoss } from '../impact/types.ts';
import { GRANTABLE_SCOPES, SCOPES, type Scope } from './scopes.ts';
import { selectorSchema, type TwinSelector } from './selector.ts';

/**
 * Explicit `typ` per kind of token (RFC 8725 §3.11), so that one kind cannot pass as another:
 * member and grant tokens give access; an impact statement is an organization's word on the
 * lost output of its twins (lib/impact/statement.ts) and gives none.
 */
export const TOKEN_TYPES = { member: 'twinx-member+jwt', grant: 'twinx-grant+jwt', impact: 'twinx-impact+jwt' } as const;
export type TokenKind = keyof typeof TOKEN_TYPES;
/** The kinds of token that give access. */
export type AccessKind = Exclude<TokenKind, 'impact'>;

/** `aud` of impact statements: whoever follows an impact question, never an organization's API. */
export const IMPACT_AUDIENCE = 'twinx-impact';

/** The only signature algorithm accepted (Ed25519). Everything else, `none` included, is refused. */
export const TOKEN_ALGORITHM = 'EdDSA';

/** Longest token accepted, in characters; a grant with a full selector fits well within it. */
export const MAX_TOKEN_LENGTH = 8192;

/** Longest life of a token an organization issues: a grant is renewed, not left open-ended. */
export const MAX_TOKEN_LIFETIME_MS = 366 * 24 * 3600_000;

/** `iss` and `aud` of an organization's tokens: a token is only ever good at its issuer. */
export function issuerOf(org: string): string {
  return `twinx:org:${org}`;
}

/** The organization a token claims to come from, read without verifying anything. */
export function claimedIssuer(token: string): string | null {
  try {
    const { iss } = decodeJwt(token);
    // Any slug-shaped issuer, reserved ones included: the network operator issues as `network`.
    const match = typeof iss === 'string' ? /^twinx:org:([a-z][a-z0-9-]{0,39})$/.exec(iss) : null;
    return match ? match[1]! : null;
  } catch {
    return null;
  }
}

/**
 * The partner and `jti` a token claims, read without verifying anything, when it claims to be
 * a grant of `org` (issued by it, with the grant `typ` or a selector): what the organization's
 * audit log keeps of a refused grant. Never to be trusted for anything else. The partner is `?`
 * when the token names none.
 */
export function claimedGrant(token: string, org: string): { partner: string; jti: string | null } | null {
  try {
    const { typ } = decodeProtectedHeader(token);
    const { iss, sub, jti, sel } = decodeJwt(token);
    if (iss !== issuerOf(org) || (typ !== TOKEN_TYPES.grant && sel === undefined)) return null;
    return { partner: typeof sub === 'string' && isValidSlug(sub) ? sub : '?', jti: typeof jti === 'string' && jti.length <= 128 ? jti : null };
  } catch {
    return null;
  }
}

/** Why a token was refused, as much as a caller needs to know. */
export enum TokenProblem {
  MISSING = 'MISSING',
  MALFORMED = 'MALFORMED',
  INVALID = 'INVALID',
  EXPIRED = 'EXPIRED',
  NOT_YET_VALID = 'NOT_YET_VALID',
  REVOKED = 'REVOKED',
}

const MESSAGES: Record<TokenProblem, string> = {
  MISSING: 'A token is required.',
  MALFORMED: 'The token is malformed.',
  INVALID: 'The token is not valid here.',
  EXPIRED: 'The token has expired.',
  NOT_YET_VALID: 'The token is not valid yet.',
  REVOKED: 'The token has been revoked.',
};

/**
 * `UNAUTHENTICATED`, with the reason a client can act on (refresh, ask for a new grant...). `token`,
 * the one refused when it is known, is named by its issuer and kind (`org`, `tokenKind`): the
 * caller presented it, and learns which of its tokens to replace (a partner's grant, its own sign-in).
 */
export function unauthenticated(reason: TokenProblem, token?: { org: string; kind: TokenKind }): TwinxError {
  return new TwinxError(ErrorCode.UNAUTHENTICATED, MESSAGES[reason], token ? { reason, org: token.org, tokenKind: token.kind } : { reason });
}

/**
 * `UNAVAILABLE`: the key a token of `org` was signed with is not known and `org` cannot be reached
 * to learn it. The token is neither accepted nor refused: the request goes on without it.
 */
export function issuerUnavailable(org: string): TwinxError {
  return new TwinxError(ErrorCode.UNAVAILABLE, `The token's issuer ${org} cannot be reached to check it; retry later.`, { org });
}

/** A verified token that gives access. */
export type VerifiedToken =
  | { kind: 'member'; org: string; kid: string; jti: string; subject: string; scopes: Scope[]; expiresAt: Date }
  | { kind: 'grant'; org: string; kid: string; jti: string; partner: string; scopes: Scope[]; selector: TwinSelector; expiresAt: Date };
/** A verified impact statement: the outputs as `org` signed them (their twins not yet checked to be its own). */
export type VerifiedStatement = { kind: 'impact'; org: string; kid: string; jti: string; outputs: SupplierLoss[]; expiresAt: Date };
/** What verifying a token of one of `K` gives. */
export type Verified<K extends TokenKind = TokenKind> = Extract<VerifiedToken | VerifiedStatement, { kind: K }>;

const scopeList = (allowed: readonly Scope[]) =>
  z
    .string()
    .transform((scope) => scope.split(' ').filter(Boolean))
    .pipe(z.array(z.enum(allowed as [Scope, ...Scope[]])).min(1));

const commonClaims = { jti: z.string().min(1).max(128), sub: z.string().min(1).max(200), exp: z.number() };
const memberClaims = z.object({ ...commonClaims, scope: scopeList(SCOPES) });
const statementClaims = z.object({ jti: commonClaims.jti, exp: commonClaims.exp, outputs: z.array(supplierLossSchema).max(10_000) });
const grantClaimsByOrg = new Map<string, ReturnType<typeof buildGrantClaims>>();
const buildGrantClaims = (org: string) =>
  z.object({ ...commonClaims, sub: z.string().refine(isValidSlug), scope: scopeList(GRANTABLE_SCOPES), sel: selectorSchema(org) });
/** Building a zod schema costs far more than using one: one per organization, kept. */
function grantClaims(org: string) {
  let schema = grantClaimsByOrg.get(org);
  if (!schema) grantClaimsByOrg.set(org, (schema = buildGrantClaims(org)));
  return schema;
}

/**
 * Verifies a token issued by `org`: size, an allow-listed algorithm, a known key, the `typ` of
 * an expected kind, `iss`, `aud`, `exp`, `nbf`, and the claims of its kind. Revocation is the
 * issuer's check, not this function's. Every failure is `UNAUTHENTICATED` with a reason.
 */
export async function verifyToken<K extends TokenKind>(
  token: string,
  getKey: JWTVerifyGetKey,
  options: { org: string; kinds: readonly K[] },
): Promise<Verified<K>> {
  const maxLength = options.kinds.includes('impact' as K) ? MAX_STATEMENT_LENGTH : MAX_TOKEN_LENGTH;
  if (token.length === 0 || token.length > maxLength) throw unauthenticated(TokenProblem.MALFORMED);
  let typ: unknown;
  let kid: unknown;
  try {
    ({ typ, kid } = decodeProtectedHeader(token));
  } catch {
    throw unauthenticated(TokenProblem.MALFORMED);
  }
  const kind = options.kinds.find((k) => TOKEN_TYPES[k] === typ);
  if (!kind || typeof kid !== 'string') throw unauthenticated(TokenProblem.INVALID);
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [TOKEN_ALGORITHM],
      issuer: issuerOf(options.org),
      audience: kind === 'impact' ? IMPACT_AUDIENCE : issuerOf(options.org),
      typ: TOKEN_TYPES[kind],
      requiredClaims: kind === 'impact' ? ['jti', 'exp', 'iat'] : ['jti', 'sub', 'exp', 'iat'],
      clockTolerance: 5,
    }));
  } catch (error) {
    // The key lookup's own verdict (its issuer unreachable) stands.
    if (error instanceof TwinxError) throw error;
    if (error instanceof errors.JWTExpired) throw unauthenticated(TokenProblem.EXPIRED);
    if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'nbf') throw unauthenticated(TokenProblem.NOT_YET_VALID);
    throw unauthenticated(TokenProblem.INVALID);
  }
  return claimsOf(kind, payload, options.org, kid) as Verified<K>;
}

/** The claims of a verified token of `kind`, checked. */
function claimsOf(kind: TokenKind, payload: unknown, org: string, kid: string): Verified {
  if (kind === 'member') {
    const claims = memberClaims.safeParse(payload);
    if (!claims.success) throw unauthenticated(TokenProblem.INVALID);
    const { jti, sub, exp, scope } = claims.data;
    return { kind, org, kid, jti, subject: sub, scopes: scope, expiresAt: new Date(exp * 1000) };
  }
  if (kind === 'impact') {
    const claims = statementClaims.safeParse(payload);
    if (!claims.success) throw unauthenticated(TokenProblem.INVALID);
    const { jti, exp, outputs } = claims.data;
    return { kind, org, kid, jti, outputs, expiresAt: new Date(exp * 1000) };
  }
  const claims = grantClaims(org).safeParse(payload);
  if (!claims.success) throw unauthenticated(TokenProblem.INVALID);
  const { jti, sub, exp, scope, sel } = claims.data;
  return { kind, org, kid, jti, partner: sub, scopes: scope, selector: sel, expiresAt: new Date(exp * 1000) };
}

/** Verified tokens remembered at most, so that a token's signature is checked once, not per request. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Verified tokens by their text, each for `maxAgeMs` at most, emptied when full. Expiry and
 * revocation are the caller's to check. A verification is remembered only when nothing was
 * cleared while it ran: one that read a key just before its retirement is not kept after it.
 */
export class VerifiedCache<T extends Verified> {
  private readonly entries = new Map<string, { token: T; until: number }>();
  /** How many times it was cleared: a verification starts by reading it, and is remembered only when it is unchanged. */
  private clears = 0;

  constructor(private readonly maxAgeMs = Infinity) {}

  /** The verification of `text`, if remembered and of one of `kinds`. */
  get(text: string, kinds: readonly TokenKind[]): T | undefined {
    const entry = this.entries.get(text);
    return entry && entry.until > Date.now() && kinds.includes(entry.token.kind) ? entry.token : undefined;
  }

  /** Where a verification starts: what `set` is handed with its result. */
  get epoch(): number {
    return this.clears;
  }

  /** Remembers a verification that started at `epoch`, unless the cache was cleared since. */
  set(text: string, token: T, epoch: number): void {
    if (epoch !== this.clears) return;
    if (this.entries.size >= VERIFIED_CACHE_SIZE) this.entries.clear();
    this.entries.set(text, { token, until: Date.now() + this.maxAgeMs });
  }

  clear(): void {
    this.clears += 1;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/** What a new token says. */
export interface TokenClaims {
  kind: TokenKind;
  org: string;
  jti: string;
  subject: string;
  scopes: readonly Scope[];
  selector?: TwinSelector;
  expiresAt: Date;
}

/** Signs a token with the organization's current key. */
export function signToken(claims: TokenClaims, key: { kid: string; privateKey: CryptoKey }): Promise<string> {
  const payload: Record<string, unknown> = { scope: claims.scopes.join(' ') };
  if (claims.selector) payload.sel = claims.selector;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: key.kid, typ: TOKEN_TYPES[claims.kind] })
    .setIssuer(issuerOf(claims.org))
    .setAudience(issuerOf(claims.org))
    .setSubject(claims.subject)
    .setJti(claims.jti)
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(Math.floor(claims.expiresAt.getTime() / 1000))
    .sign(key.privateKey);
}
