import { createClient, type Client } from 'graphql-ws';
import { grantIssuers, type Session } from './session.ts';

/** An error of a GraphQL answer, as the gateway sends it. */
interface GraphQLProblem {
  message: string;
  extensions?: { code?: string; reason?: string; subgraph?: string; org?: string };
}

/** What people read when the network says no. */
export function plainMessage(problem: GraphQLProblem, session: Session): string {
  const { code, reason, subgraph, org } = problem.extensions ?? {};
  const member = subgraph ?? org;
  switch (code) {
    case 'UNAUTHENTICATED':
      if (reason === 'REVOKED') return `Your grant from ${member ?? (grantIssuers(session).join(', ') || 'a partner')} was revoked.`;
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

/** Asks the gateway's `/graphql` with the session's tokens. Throws (with a plain message) only when nothing came back. */
export async function query<T>(session: Session, text: string, variables: Record<string, unknown> = {}, signal?: AbortSignal): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...session.headers },
      body: JSON.stringify({ query: text, variables }),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new Error(NO_NETWORK);
  }
  const body = (await response.json().catch(() => null)) as { data?: T | null; errors?: GraphQLProblem[] } | null;
  if (!body) throw new Error(response.ok ? 'The gateway sent an answer the console cannot read.' : NO_NETWORK);
  const problems = [...new Set((body.errors ?? []).map((problem) => plainMessage(problem, session)))];
  if (body.data === null || body.data === undefined) throw new Error(problems.join(' ') || 'The gateway sent no answer.');
  return { data: body.data, problems };
}

const clients = new WeakMap<Session, Client>();

function clientOf(session: Session): Client {
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
 * same payload again, whose `after` follows the events' cursors. Returns the unsubscribe.
 */
export function subscribe<T extends { cursor: string }>(
  session: Session,
  text: string,
  variables: Record<string, unknown>,
  onEvent: (event: T) => void,
  onProblem: (message: string) => void,
): () => void {
  const payload = { query: text, variables: { ...variables, after: null as string | null } };
  return clientOf(session).subscribe<{ twinEvents: T }>(payload, {
    next: ({ data, errors }) => {
      if (errors?.length) onProblem(plainMessage(errors[0] as GraphQLProblem, session));
      if (data?.twinEvents) {
        payload.variables.after = data.twinEvents.cursor;
        onEvent(data.twinEvents);
      }
    },
    error: (error) => {
      if (Array.isArray(error)) onProblem(plainMessage(error[0] as GraphQLProblem, session));
      else onProblem(error instanceof CloseEvent && error.reason ? error.reason : NO_NETWORK);
    },
    complete: () => undefined,
  });
}
