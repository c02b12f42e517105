/** The signed-in user's tokens, as the HTTP headers carry them. Kept for this tab only. */
export interface Session {
  /** Who the user is, as shown in the header. */
  name: string;
  headers: { authorization: string; 'twin-grants'?: string };
}

const KEY = 'twinx.session';
const MAX_TOKEN_CHARS = 16_384;

/** The claims of a JSON Web Token (part 1; part 0 is its header) the console names people and organizations by; never trusted, the gateway checks. */
function claimsOf(token: string, part = 1): { iss?: string; sub?: string; scope?: string; kid?: string } {
  try {
    const payload = token.split('.')[part] ?? '';
    const claims: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    return typeof claims === 'object' && claims !== null ? (claims as { iss?: string; sub?: string; scope?: string; kid?: string }) : {};
  } catch {
    return {};
  }
}

/** The organization that issued a token (`iss` is `twinx:org:<slug>`). */
const issuerOf = (token: string) => /^twinx:org:([a-z][a-z0-9-]{0,39})$/.exec(claimsOf(token).iss ?? '')?.[1];

/** Organizations that issued the session's grants. */
export function grantIssuers(session: Session): string[] {
  const grants = session.headers['twin-grants']?.split(',') ?? [];
  return grants.map((grant) => issuerOf(grant.trim())).filter((org): org is string => org !== undefined);
}

/**
 * The session's member token as the console reads it: the organization that issued it, the
 * scopes it claims and the key that signed it (`kid` of its header). What the console offers
 * follows it; the gateway decides.
 */
export function memberOf(session: Session): { org: string; scopes: string[]; kid: string | undefined } | null {
  const token = session.headers.authorization.replace(/^Bearer\s+/i, '');
  const org = issuerOf(token);
  if (!org) return null;
  return { org, scopes: (claimsOf(token).scope ?? '').split(' ').filter(Boolean), kid: claimsOf(token, 0).kid };
}

/**
 * Whether the session's tokens claim `scope` at `org`: its member token for its own organization,
 * one of `org`'s grants otherwise. What the console offers follows it; the gateway decides.
 */
export function claimsScope(session: Session, org: string, scope: string): boolean {
  const member = memberOf(session);
  if (member?.org === org) return member.scopes.includes(scope);
  const grants = session.headers['twin-grants']?.split(',').map((grant) => grant.trim()) ?? [];
  return grants.some((grant) => issuerOf(grant) === org && (claimsOf(grant).scope ?? '').split(' ').includes(scope));
}

/**
 * A session from pasted tokens: a member token (with or without `Bearer `) and grant tokens
 * separated by commas or white space. What is not a token an organization issued at all (its
 * issuer and, for the member token, whom it names) is refused here; the gateway decides the rest.
 */
export function sessionFromTokens(token: string, grants: string): Session {
  const member = token.trim().replace(/^Bearer\s+/i, '');
  if (member.length === 0) throw new Error('Paste your member token.');
  if (member.length > MAX_TOKEN_CHARS || grants.length > MAX_TOKEN_CHARS * 20) throw new Error('These tokens are too long.');
  const grantList = grants.split(/[\s,]+/).filter(Boolean);
  const person = claimsOf(member).sub;
  const org = issuerOf(member);
  if (!person || !org) throw new Error('This is not a member token of a twinx organization: paste the whole token your organization issued you.');
  if (grantList.some((grant) => !issuerOf(grant))) throw new Error('One of the grants is not a grant token of a twinx organization: paste each whole.');
  const headers: Session['headers'] = { authorization: `Bearer ${member}` };
  if (grantList.length > 0) headers['twin-grants'] = grantList.join(', ');
  return { name: `${person} at ${org}`, headers };
}

export function loadSession(): Session | null {
  try {
    const saved: unknown = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    const session = saved as Session | null;
    return session && typeof session.name === 'string' && typeof session.headers?.authorization === 'string' ? session : null;
  } catch {
    return null;
  }
}

/** Keeps the session in this tab; without one (signed out), forgets all the tab kept: tokens and the explorer's history. */
export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.clear();
}
