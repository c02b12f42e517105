import type { IncomingHttpHeaders } from 'node:http';
import { TokenProblem, unauthenticated, type AccessKind } from './tokens.ts';

/** Header carrying a client's further grant tokens besides `Authorization`, comma-separated. */
export const GRANTS_HEADER = 'twin-grants';

/** Most tokens one request may present. */
export const MAX_TOKENS = 16;

/** The tokens of a request: `Authorization: Bearer` (any kind) and the grants header. */
export interface Presented {
  bearer?: string;
  grants: string[];
}

/** The tokens presented by a request's headers (or a subscription's connection parameters). */
export function presentedTokens(headers: IncomingHttpHeaders | Readonly<Record<string, unknown>>): Presented {
  const authorization = headers.authorization;
  const bearer = typeof authorization === 'string' ? authorization.match(/^Bearer\s+(\S+)$/i)?.[1] : undefined;
  if (authorization !== undefined && bearer === undefined) throw unauthenticated(TokenProblem.MALFORMED);
  const raw = headers[GRANTS_HEADER];
  if (raw !== undefined && typeof raw !== 'string' && !Array.isArray(raw)) throw unauthenticated(TokenProblem.MALFORMED);
  const grants = (Array.isArray(raw) ? raw.join(',') : (raw ?? ''))
    .split(',')
    .map((token) => token.trim())
    .filter(Boolean);
  if (grants.length + 1 > MAX_TOKENS) throw unauthenticated(TokenProblem.MALFORMED);
  return { bearer, grants };
}

/**
 * A subscription's connection parameters read as HTTP headers are: names in any case (RFC 9110
 * §5.1). The same name twice in different cases is ambiguous and refused.
 */
export function connectionHeaders(params: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const headers = Object.fromEntries(Object.entries(params ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
  if (Object.keys(headers).length < Object.keys(params ?? {}).length) throw unauthenticated(TokenProblem.MALFORMED);
  return headers;
}

/** Headers presenting tokens: the first in `Authorization`, the others in the grants header. */
export function tokenHeaders(tokens: readonly string[]): Record<string, string> {
  const [first, ...rest] = tokens;
  if (first === undefined) return {};
  return { authorization: `Bearer ${first}`, ...(rest.length > 0 ? { [GRANTS_HEADER]: rest.join(', ') } : {}) };
}

/** Each presented token with the kinds it may be: the bearer a member token or a grant, the others grants. */
export function presentedKinds({ bearer, grants }: Presented): { token: string; kinds: readonly AccessKind[] }[] {
  return [
    ...(bearer === undefined ? [] : [{ token: bearer, kinds: ['member', 'grant'] as const }]),
    ...grants.map((token) => ({ token, kinds: ['grant'] as const })),
  ];
}

/** Verifies every presented token at once. */
export function verifyPresented<T>(presented: Presented, verify: (token: string, kinds: readonly AccessKind[]) => Promise<T>): Promise<T[]> {
  return Promise.all(presentedKinds(presented).map(({ token, kinds }) => verify(token, kinds)));
}
