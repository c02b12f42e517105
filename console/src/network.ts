import { query, subscribe, type Answer, type FeedEnd } from './api.ts';
import type { Session } from './session.ts';

export type Status = 'UNKNOWN' | 'OK' | 'ALERT';

/**
 * Twins the map lists at most: thousands of list items would make every change slow to show. The
 * map draws them all; its filters narrow the list.
 */
export const LIST_LIMIT = 250;

/** A twin as the map shows it. */
export interface MapTwin {
  id: string;
  name: string;
  kind: string;
  tags: string[];
  org: { slug: string; name: string };
  status: Status;
  suppliers: string[];
}

interface TwinNode {
  id: string;
  name: string | null;
  kind: string | null;
  tags: string[] | null;
  org: { slug: string; name: string };
  state: { status: Status } | null;
  /** Null while the twin's organization is down. */
  suppliedBy: { id: string }[] | null;
}

interface TwinPage {
  twins: { edges: { node: TwinNode }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

const TWIN_FIELDS = 'id name kind tags org { slug name } state { status } suppliedBy { id }';

// A page's twins, and their suppliers, are asked of their organizations in one call each, priced
// about 100 a twin against the cost limit of 20,000 every endpoint applies: 50 twins with up to 4
// suppliers at one organization stay within it.
const PAGE = `query MapTwins($after: String) {
  twins(first: 50, after: $after) { edges { node { ${TWIN_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;

// States come often and carry all the map needs; the twin itself is asked for only when it changes.
// Alarms come to sessions that may read the twin's analytics, and to them only.
const STATE_EVENTS = `subscription MapStates($after: String) {
  twinEvents(filter: { types: [STATE, ALERT, ALARM] }, after: $after) { cursor type twinId state { status } alarm { id active } }
}`;
const TWIN_EVENTS = `subscription MapTwins($after: String) {
  twinEvents(filter: { types: [CREATED, UPDATED, DELETED] }, after: $after) { cursor type twinId twin { ${TWIN_FIELDS} } }
}`;

function toMapTwin(node: TwinNode): MapTwin {
  return {
    id: node.id,
    name: node.name ?? node.id,
    kind: node.kind ?? '',
    tags: node.tags ?? [],
    org: node.org,
    status: node.state?.status ?? 'UNKNOWN',
    suppliers: (node.suppliedBy ?? []).map((supplier) => supplier.id),
  };
}

/** Every twin the session may see, a page at a time while `wanted()`; `onPage` reports progress. Null when no longer wanted. */
export async function loadTwins(
  session: Session,
  wanted: () => boolean,
  onPage: (count: number) => void,
): Promise<{ twins: MapTwin[]; problems: string[] } | null> {
  const twins: MapTwin[] = [];
  const problems = new Set<string>();
  let after: string | null = null;
  for (;;) {
    const answer: Answer<TwinPage> = await query<TwinPage>(session, PAGE, { after });
    if (!wanted()) return null;
    answer.problems.forEach((problem) => problems.add(problem));
    const page = answer.data!.twins;
    twins.push(...page.edges.map((edge) => toMapTwin(edge.node)));
    onPage(twins.length);
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return { twins, problems: [...problems] };
    after = page.pageInfo.endCursor;
  }
}

/** What an event does to the map. */
export type MapChange =
  | { type: 'status'; id: string; status: Status }
  | { type: 'alarm'; id: string; alarmId: string; active: boolean }
  | { type: 'upsert'; twin: MapTwin }
  | { type: 'delete'; id: string };

interface MapEvent {
  cursor: string;
  type: 'STATE' | 'ALERT' | 'ALARM' | 'CREATED' | 'UPDATED' | 'DELETED';
  twinId: string;
  state?: { status: Status } | null;
  alarm?: { id: string; active: boolean } | null;
  twin?: TwinNode | null;
}

/** The map's live changes from the network's events; `onEnded` hears once when the network ends them, and why. */
export function watchTwins(
  session: Session,
  onChange: (change: MapChange) => void,
  onProblem: (message: string) => void,
  onEnded: (end: FeedEnd) => void,
): () => void {
  const apply = (event: MapEvent) => {
    if (event.type === 'DELETED') onChange({ type: 'delete', id: event.twinId });
    else if (event.twin) onChange({ type: 'upsert', twin: toMapTwin(event.twin) });
    else if (event.alarm) onChange({ type: 'alarm', id: event.twinId, alarmId: event.alarm.id, active: event.alarm.active });
    else if (event.state) onChange({ type: 'status', id: event.twinId, status: event.state.status });
  };
  // Both feeds end together: the map hears of it once.
  let ended = false;
  const end = (why: FeedEnd) => {
    if (!ended) onEnded(why);
    ended = true;
  };
  const stops = [STATE_EVENTS, TWIN_EVENTS].map((events) => subscribe(session, events, {}, apply, onProblem, { onEnded: end }));
  return () => stops.forEach((stop) => stop());
}
