import { createClient, type Client } from 'graphql-ws';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { grantIssuers, memberOf, type Session } from './session.ts';

/** An error of a GraphQL answer, as the gateway sends it. */
interface GraphQLProblem {
  message: string;
  /** `org` and `tokenKind` name a refused token; `subgraph` the member (or `directory`) whose part of the answer failed. */
  extensions?: { code?: string; reason?: string; subgraph?: string; org?: string; tokenKind?: string };
}

/** The network's directory among the parts of an answer (gateway/data-source.ts). */
const DIRECTORY = 'directory';

/**
 * Which of the session's tokens a refusal speaks of: the one the gateway names (`tokenKind`), else,
 * when an organization refused, the session's grant from it or its sign-in there.
 */
function refusedToken(session: Session, org: string | undefined, tokenKind: string | undefined): 'member' | 'grant' | undefined {
  if (tokenKind === 'member' || tokenKind === 'grant') return tokenKind;
  if (org && grantIssuers(session).includes(org)) return 'grant';
  if (org && memberOf(session)?.org === org) return 'member';
  return undefined;
}

/** What a refused token means to the user; `org` named by `name`. */
function refusal(reason: string | undefined, token: 'member' | 'grant' | undefined, org: string | undefined, name: string): string {
  if (token === 'grant' && org) {
    if (reason === 'REVOKED') return `Your grant from ${name} was revoked: ${name} no longer shares those twins with you.`;
    if (reason === 'EXPIRED') return `Your grant from ${name} has expired: ask ${name} for a new one.`;
    return `Your grant from ${name} was not accepted: ask ${name} for a new one.`;
  }
  if (reason === 'REVOKED') return 'Your sign-in was revoked: ask your organization for a new token.';
  if (reason === 'EXPIRED') return 'Your sign-in has expired: sign in again with new tokens.';
  return TOKENS_REFUSED;
}

const TOKENS_REFUSED = 'Your tokens were not accepted: sign out and sign in again.';

/**
 * What people read when the network says no. `about` is the organization the request was about,
 * when one; `names` the organizations' names by slug, when known (errors name organizations by slug).
 */
export function plainMessage(problem: GraphQLProblem, session: Session, about?: string, names: ReadonlyMap<string, string> = new Map()): string {
  const { code, reason, subgraph, org, tokenKind } = problem.extensions ?? {};
  const member = org ?? subgraph ?? about;
  const name = (member && names.get(member)) ?? member ?? '';
  switch (code) {
    case 'UNAUTHENTICATED':
      return refusal(reason, refusedToken(session, member, tokenKind), member, name);
    case 'UNAVAILABLE':
      if (member === DIRECTORY) return 'The network’s directory is unavailable: twins cannot be listed now; try again shortly.';
      return member ? `${name} is unavailable: its twins’ details and live state cannot be shown now.` : 'The network is unavailable; try again shortly.';
    case 'FORBIDDEN':
      return `Your tokens do not allow this: ${problem.message}`;
    case 'RATE_LIMITED':
      return 'Too many requests: wait a moment and try again.';
    default:
      return problem.message;
  }
}

/** Whether an error names an organization, which people know by its name. */
const namesOrg = (problem: GraphQLProblem) => {
  const { org, subgraph } = problem.extensions ?? {};
  return (org ?? subgraph ?? DIRECTORY) !== DIRECTORY;
};

/** The network's organizations' names by slug, read once per session when an error first names one. */
const orgNames = new WeakMap<Session, Promise<Map<string, string>>>();

function organizationNames(session: Session): Promise<Map<string, string>> {
  let names = orgNames.get(session);
  if (!names) {
    // Unread (the directory down, the gateway away): slugs name them this time, the next error asks again.
    const unread = () => {
      orgNames.delete(session);
      return new Map<string, string>();
    };
    names = post(session, { query: '{ organizations { slug name } }' })
      .then((response) => response.json() as Promise<{ data?: { organizations?: { slug: string; name: string }[] } } | null>)
      .then((body) => {
        const organizations = body?.data?.organizations;
        return organizations ? new Map(organizations.map((org) => [org.slug, org.name])) : unread();
      }, unread);
    orgNames.set(session, names);
  }
  return names;
}

/** Errors in plain words, without repeats, organizations named as people know them. */
async function explain(problems: readonly GraphQLProblem[], session: Session, about?: string): Promise<string[]> {
  const names = problems.some(namesOrg) || about ? await organizationNames(session) : new Map<string, string>();
  return [...new Set(problems.map((problem) => plainMessage(problem, session, about, names)))];
}

/** What went wrong on a page, each problem said once: `report` adds one, `clear` starts afresh. */
export function useProblems(): { problems: string[]; report: (message: string) => void; clear: () => void } {
  const [problems, setProblems] = useState<string[]>([]);
  const report = useCallback((message: string) => setProblems((current) => (current.includes(message) ? current : [...current, message])), []);
  const clear = useCallback(() => setProblems([]), []);
  return { problems, report, clear };
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
  const problems = await explain(body.errors ?? [], session);
  if (body.data === null || body.data === undefined) throw new Error(problems.join(' ') || 'The gateway sent no answer.');
  return { data: body.data, problems };
}

/** A session's live connection, and whether it was lost and is being made again (its feeds paused). */
interface Live {
  client: Client;
  lost: boolean;
  listeners: Set<(lost: boolean) => void>;
}

const connections = new WeakMap<Session, Live>();

/** Longest wait between two attempts to connect again, in ms: the feeds resume soon after the gateway is back. */
const MAX_RETRY_WAIT_MS = 5000;

/** Close codes after which connecting again cannot help: the tokens refused (4403), or the protocol broken. */
const HOPELESS = new Set([4400, 4401, 4403, 4406, 4409, 4429, 4500]);
const hopeless = (event: unknown) => event instanceof CloseEvent && HOPELESS.has(event.code);

function liveOf(session: Session): Live {
  let live = connections.get(session);
  if (!live) {
    const url = new URL('/graphql', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const lost = (value: boolean) => {
      if (live!.lost === value) return;
      live!.lost = value;
      live!.listeners.forEach((listener) => listener(value));
    };
    const client = createClient({
      url: url.href,
      connectionParams: session.headers,
      lazy: true,
      retryAttempts: Infinity,
      // A gateway that cannot be reached (restarting, the network down) is tried again too, not only
      // a connection it closed: the feeds resume once it is back. Refused tokens are not sent again.
      shouldRetry: (event) => !hopeless(event),
      // Exponential, with jitter so that a restarted gateway's clients do not all come back at once.
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, MAX_RETRY_WAIT_MS) * (0.5 + Math.random()))),
      on: {
        connected: () => lost(false),
        // 1000: closed on purpose (the last feed ended, sign-out); a hopeless close is said by the
        // feeds it ends; anything else is tried again.
        closed: (event) => lost((event as CloseEvent).code !== 1000 && !hopeless(event)),
      },
    });
    live = { client, lost: false, listeners: new Set() };
    connections.set(session, live);
  }
  return live;
}

/** The session's graphql-ws connection to the gateway's `/graphql`, its tokens as connection parameters; opened when first used. */
export const clientOf = (session: Session): Client => liveOf(session).client;

/** Whether the session's live updates are paused: their connection was lost and is being made again. */
export function useReconnecting(session: Session): boolean {
  const live = liveOf(session);
  const [lost, setLost] = useState(live.lost);
  useEffect(() => {
    setLost(live.lost);
    live.listeners.add(setLost);
    return () => void live.listeners.delete(setLost);
  }, [live]);
  return lost;
}

/** Closes the session's live connection (on sign-out). */
export function disconnect(session: Session): void {
  void connections.get(session)?.client.dispose();
  connections.delete(session);
}

/** Why the network ended a feed: the grant that no longer counts (revoked, expired), when one is named. */
export interface FeedEnd {
  /** The organization whose grant it was. */
  grantFrom?: string;
}

/** The grant a feed's refusal names (the gateway names the refused token's issuer and kind). */
function endOf(problem: GraphQLProblem | undefined): FeedEnd {
  const { code, org, tokenKind } = problem?.extensions ?? {};
  return code === 'UNAUTHENTICATED' && tokenKind === 'grant' && org ? { grantFrom: org } : {};
}

/**
 * Subscribes to events with the session's tokens; `onEvent` gets each `data`. After a lost
 * connection the subscription resumes right after the last event received: graphql-ws sends the
 * same payload again, whose `after` follows the events' cursors. `about` names the organization
 * the events are of, when one. The network ends a feed only when it may no longer be served
 * (a grant revoked, a token expired): `onEnded` learns of it, and of the grant, when that is why.
 * Returns the unsubscribe.
 */
export function subscribe<T extends { cursor: string }>(
  session: Session,
  text: string,
  variables: Record<string, unknown>,
  onEvent: (event: T) => void,
  onProblem: (message: string) => void,
  { about, onEnded }: { about?: string; onEnded?: (end: FeedEnd) => void } = {},
): () => void {
  const payload = { query: text, variables: { ...variables, after: null as string | null } };
  /** The last error the feed carried: the network ends a feed with its reason. */
  let last: GraphQLProblem | undefined;
  const report = (problem: GraphQLProblem) => void explain([problem], session, about).then(([message]) => onProblem(message!));
  // Ended here (the page left): the network did not end it.
  let stopped = false;
  const unsubscribe = liveOf(session).client.subscribe<{ twinEvents: T }>(payload, {
    next: ({ data, errors }) => {
      if (errors?.length) report((last = errors[0] as GraphQLProblem));
      if (data?.twinEvents) {
        payload.variables.after = data.twinEvents.cursor;
        onEvent(data.twinEvents);
      }
    },
    error: (error) => {
      const problem = Array.isArray(error) ? (error[0] as GraphQLProblem) : undefined;
      if (problem) report(problem);
      else onProblem(hopeless(error) ? TOKENS_REFUSED : error instanceof CloseEvent && error.reason ? error.reason : NO_NETWORK);
      onEnded?.(endOf(problem));
    },
    complete: () => {
      if (!stopped) onEnded?.(endOf(last));
    },
  });
  return () => {
    stopped = true;
    unsubscribe();
  };
}
