import { createClient, type Client } from 'graphql-ws';
import { grantIssuers, type Session } from './session.ts';

/** An error of a GraphQL answer, as the gateway sends it. */
interface GraphQLProblem {
  message: string;
  extensions?: { code?: string; reason?: string; subgraph?: string; org?: string };
}

/** Whose grant a refusal for a revoked token speaks of: the organization asked about when the user holds its grant, else the grants' issuers. */
function revokedGrant(session: Session, about: string | undefined): string {
  const issuers = grantIssuers(session);
  if (about && issuers.includes(about)) return `Your grant from ${about} was revoked.`;
  if (issuers.length === 1) return `Your grant from ${issuers[0]} was revoked.`;
  return issuers.length > 1
    ? `One of your grants (from ${issuers.join(' or ')}) was revoked.`
    : 'Your sign-in was revoked: ask your organization for a new token.';
}

/** What people read when the network says no; `about` is the organization the request was about, when one. */
export function plainMessage(problem: GraphQLProblem, session: Session, about?: string): string {
  const { code, reason, subgraph, org } = problem.extensions ?? {};
  const member = subgraph ?? org;
  switch (code) {
    case 'UNAUTHENTICATED':
      if (reason === 'REVOKED') return revokedGrant(session, member ?? about);
      if (reason === 'EXPIRED') return 'Your sign-in has expired: sign in again with new tokens.';
      return 'Your tokens were not accepted: sign out and sign in again.';
    case 'UNAVAILABLE':
      return member ? `${member} is unavailable.` : 'The network is unavailable; try again shortly.';
    case 'FORBIDDEN':
      return `Your tokens do not allow this: ${problem.message}`;
    case 'RATE_LIMITED':
      return 'Too many requests: wait a moment and try again.';
    default:
      return problem.message;
  }
}

export const NO_NETWORK = 'The twinx gateway cannot be reached: check your connection.';

/** An answer's data and, in plain words, what went wrong with any part of it. */
export interface Answer<T> {
  data: T | null;
  problems: string[];
}

/** Sends a GraphQL request to the gateway's `/graphql` with the session's tokens; throws (with a plain message) when nothing came back. */
export async function post(session: Session, request: { query: string; variables?: Record<string, unknown>; operationName?: string }): Promise<Response> {
  try {
    return await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...session.headers },
      body: JSON.stringify(request),
    });
  } catch {
    throw new Error(NO_NETWORK);
  }
}

/**
 * Asks the gateway's `/graphql` with the session's tokens. Throws (with a plain message) only when
 * nothing came back. A request is never cut short: pages ignore the answers they no longer need.
 */
export async function query<T>(session: Session, text: string, variables: Record<string, unknown> = {}): Promise<Answer<T>> {
  const response = await post(session, { query: text, variables });
  const body = (await response.json().catch(() => null)) as { data?: T | null; errors?: GraphQLProblem[] } | null;
  if (!body) throw new Error(response.ok ? 'The gateway sent an answer the console cannot read.' : NO_NETWORK);
  const problems = [...new Set((body.errors ?? []).map((problem) => plainMessage(problem, session)))];
  if (body.data === null || body.data === undefined) throw new Error(problems.join(' ') || 'The gateway sent no answer.');
  return { data: body.data, problems };
}

const clients = new WeakMap<Session, Client>();

/** The session's graphql-ws connection to the gateway's `/graphql`, its tokens as connection parameters; opened when first used. */
export function clientOf(session: Session): Client {
  let client = clients.get(session);
  if (!client) {
    const url = new URL('/graphql', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    client = createClient({ url: url.href, connectionParams: session.headers, lazy: true, retryAttempts: Infinity });
    clients.set(session, client);
  }
  return client;
}

/** Closes the session's live connection (on sign-out). */
export function disconnect(session: Session): void {
  void clients.get(session)?.dispose();
  clients.delete(session);
}

/**
 * Subscribes to events with the session's tokens; `onEvent` gets each `data`. After a lost
 * connection the subscription resumes right after the last event received: graphql-ws sends the
 * same payload again, whose `after` follows the events' cursors. `about` names the organization
 * the events are of, when one. The network ends a feed only when it may no longer be served
 * (a grant revoked, a token expired): `onEnded` learns of it. Returns the unsubscribe.
 */
export function subscribe<T extends { cursor: string }>(
  session: Session,
  text: string,
  variables: Record<string, unknown>,
  onEvent: (event: T) => void,
  onProblem: (message: string) => void,
  { about, onEnded }: { about?: string; onEnded?: () => void } = {},
): () => void {
  const payload = { query: text, variables: { ...variables, after: null as string | null } };
  return clientOf(session).subscribe<{ twinEvents: T }>(payload, {
    next: ({ data, errors }) => {
      if (errors?.length) onProblem(plainMessage(errors[0] as GraphQLProblem, session, about));
      if (data?.twinEvents) {
        payload.variables.after = data.twinEvents.cursor;
        onEvent(data.twinEvents);
      }
    },
    error: (error) => {
      if (Array.isArray(error)) onProblem(plainMessage(error[0] as GraphQLProblem, session, about));
      else onProblem(error instanceof CloseEvent && error.reason ? error.reason : NO_NETWORK);
      onEnded?.();
    },
    complete: () => onEnded?.(),
  });
}
