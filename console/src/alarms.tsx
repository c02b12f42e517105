import { useEffect, useMemo, useState } from 'preact/hooks';
import { fieldName } from '../../lib/graphql/names.ts';
import { isValidSlug } from '../../lib/ids.ts';
import { query, subscribe, useProblems } from './api.ts';
import { twinPath } from './router.ts';
import { claimsScope, type Session } from './session.ts';

export type Severity = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
export type AlarmState = 'ACTIVE_UNACKNOWLEDGED' | 'ACTIVE_ACKNOWLEDGED' | 'CLEARED_UNACKNOWLEDGED' | 'CLOSED';

/** Most urgent first. */
const SEVERITIES: Severity[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'];
const OPEN_STATES: AlarmState[] = ['ACTIVE_UNACKNOWLEDGED', 'ACTIVE_ACKNOWLEDGED', 'CLEARED_UNACKNOWLEDGED'];
const STATE_WORDS: Record<AlarmState, string> = {
  ACTIVE_UNACKNOWLEDGED: 'active, not acknowledged',
  ACTIVE_ACKNOWLEDGED: 'active, acknowledged',
  CLEARED_UNACKNOWLEDGED: 'cleared, not acknowledged',
  CLOSED: 'closed',
};

/** A twin as alarm lists name it. */
export interface TwinRef {
  id: string;
  name: string | null;
  org: { slug: string; name: string };
}

interface Alarm {
  id: string;
  twinId: string;
  cause: string;
  severity: Severity;
  state: AlarmState;
  explanation: Record<string, unknown>;
  activatedAt: string;
  acknowledgedBy: string | null;
  assignee: string | null;
  escalation: number;
}

/** An alarm with its twin. */
interface AlarmItem extends Alarm {
  twin: TwinRef;
}

interface HistoryEntry {
  action: string;
  by: string;
  at: string;
  text: string | null;
}

const ALARM_FIELDS = 'id twinId cause severity state explanation activatedAt acknowledgedBy assignee escalation';

interface TwinAlarms extends TwinRef {
  alarms: { edges: { node: Alarm }[]; pageInfo: { hasNextPage: boolean } } | null;
}

const TWIN_FIELDS = `id name org { slug name } alarms(states: $states, first: $first) { edges { node { ${ALARM_FIELDS} } } pageInfo { hasNextPage } }`;

// Open alarms are few per twin (one per cause): pages of twins keep each answer within the gateway's cost limit.
const ALL_ALARMS = `query Alarms($after: String, $states: [AlarmState!], $first: Int!) {
  twins(first: 25, after: $after) { edges { node { ${TWIN_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;
const TWIN_ALARMS = `query TwinAlarms($id: ID!, $states: [AlarmState!], $first: Int!) { twin(id: $id) { ${TWIN_FIELDS} } }`;

const HISTORY = `query AlarmHistory($id: ID!, $states: [AlarmState!], $after: String) {
  twin(id: $id) { alarms(states: $states, first: 50, after: $after) { edges { node { id history { action by at text } } } pageInfo { hasNextPage endCursor } } }
}`;

const EVENTS = `subscription AlarmEvents($twinIds: [ID!], $after: String) {
  twinEvents(filter: { twinIds: $twinIds, types: [ALARM] }, after: $after) { cursor twinId alarm { ${ALARM_FIELDS} } twin { id name org { slug name } } }
}`;

interface AlarmEvent {
  cursor: string;
  twinId: string;
  alarm: Alarm | null;
  twin: TwinRef | null;
}

/** Whether a problem is a refusal for want of `scope`: the network's refusals name the scope they needed. */
export const refusedFor = (problem: string, scope: string) => problem.includes(`the ${scope} scope`);

/** What a list of alarms knows besides them. */
interface Loaded {
  /** Organizations none of whose twins share alarms with the session, by name. */
  notShared: string[];
  /** Twins with more alarms than the list shows. */
  more: TwinRef[];
  problems: string[];
}

/**
 * Loads the alarms in `states` of one twin, or of every twin the session may see a page of twins at
 * a time, handing each page's alarms to `onAlarms` as it comes; then what else it learnt, or null
 * once no longer `wanted`.
 */
async function loadAlarms(
  session: Session,
  twinId: string | null,
  states: AlarmState[],
  wanted: () => boolean,
  onAlarms: (alarms: AlarmItem[]) => void,
): Promise<Loaded | null> {
  const orgs = new Map<string, { name: string; shared: boolean }>();
  const more: TwinRef[] = [];
  const problems = new Set<string>();
  const take = (twins: TwinAlarms[], found: string[]) => {
    found.forEach((problem) => problems.add(problem));
    const alarms: AlarmItem[] = [];
    for (const { alarms: page, ...twin } of twins) {
      const org = orgs.get(twin.org.slug) ?? { name: twin.org.name, shared: false };
      orgs.set(twin.org.slug, org);
      if (!page) continue;
      org.shared = true;
      alarms.push(...page.edges.map((edge) => ({ ...edge.node, twin })));
      if (page.pageInfo.hasNextPage) more.push(twin);
    }
    onAlarms(alarms);
  };
  // Twins whose organization refuses their alarms contribute none: an organization refusing all is named once.
  const learnt = (): Loaded => {
    const refused = [...problems].some((problem) => refusedFor(problem, 'analytics:read'));
    return {
      notShared: refused ? [...orgs.values()].filter((org) => !org.shared).map((org) => org.name) : [],
      more,
      problems: [...problems].filter((problem) => !refusedFor(problem, 'analytics:read')),
    };
  };
  if (twinId) {
    const answer = await query<{ twin: TwinAlarms | null }>(session, TWIN_ALARMS, { id: twinId, states, first: 50 });
    if (!wanted()) return null;
    take(answer.data?.twin ? [answer.data.twin] : [], answer.problems);
    return learnt();
  }
  let after: string | null = null;
  for (;;) {
    type Page = { twins: { edges: { node: TwinAlarms }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    const answer: { data: Page | null; problems: string[] } = await query<Page>(session, ALL_ALARMS, { after, states, first: 20 });
    if (!wanted()) return null;
    const page = answer.data!.twins;
    take(
      page.edges.map((edge) => edge.node),
      answer.problems,
    );
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return learnt();
    after = page.pageInfo.endCursor;
  }
}

/** Most severe first, then the latest activated. */
const byUrgency = (a: Alarm, b: Alarm) =>
  SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || Date.parse(b.activatedAt) - Date.parse(a.activatedAt);

/**
 * The alarms of one twin (of every twin the session may see when null), open ones and closed ones
 * when asked, kept live from the network's ALARM events; `changed` takes an alarm as an action
 * returned it.
 */
function useAlarms(session: Session, twin: TwinRef | null, includeClosed: boolean) {
  const [items, setItems] = useState(new Map<string, AlarmItem>());
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const { problems, report, clear } = useProblems();
  const twinId = twin?.id ?? null;

  const put = (alarm: Alarm, of: TwinRef | null) =>
    setItems((current) => {
      const next = new Map(current);
      // A twin the network no longer names (deleted since) goes by its id.
      const slug = alarm.twinId.split(':')[0]!;
      const known = of ?? current.get(alarm.id)?.twin ?? { id: alarm.twinId, name: null, org: { slug, name: slug } };
      if (!includeClosed && alarm.state === 'CLOSED') next.delete(alarm.id);
      else next.set(alarm.id, { ...alarm, twin: known });
      return next;
    });

  useEffect(() => {
    let wanted = true;
    setItems(new Map());
    setLoaded(null);
    clear();
    // An event is newer than what a load started before it returns.
    const changed = new Set<string>();
    const stop = subscribe<AlarmEvent>(
      session,
      EVENTS,
      { twinIds: twinId ? [twinId] : null },
      (event) => {
        if (!event.alarm) return;
        changed.add(event.alarm.id);
        put(event.alarm, event.twin ?? twin);
      },
      report,
      { about: twin?.org.slug },
    );
    const states: AlarmState[] = includeClosed ? [...OPEN_STATES, 'CLOSED'] : OPEN_STATES;
    loadAlarms(
      session,
      twinId,
      states,
      () => wanted,
      (alarms) =>
        setItems((current) => {
          const next = new Map(current);
          for (const alarm of alarms) if (!changed.has(alarm.id)) next.set(alarm.id, alarm);
          return next;
        }),
    )
      .then((result) => {
        if (!result) return;
        setLoaded(result);
        result.problems.forEach(report);
      })
      .catch((error: Error) => wanted && report(error.message));
    return () => {
      wanted = false;
      stop();
    };
  }, [session, twinId, includeClosed]);

  const alarms = useMemo(() => [...items.values()].sort(byUrgency), [items]);
  return { alarms, loaded, problems, changed: (alarm: Alarm) => put(alarm, null) };
}

/** A number as people read it: at most four significant digits. */
const num = (value: unknown) => (typeof value === 'number' ? String(Number(value.toPrecision(4))) : '?');

/** What raised the alarm, in a few words. */
function causeWords(cause: string): string {
  const [kind, metric] = cause.split(':');
  if (kind === 'range') return `${metric} out of its normal range`;
  if (kind === 'anomaly') return `anomaly in ${metric}`;
  if (kind === 'health') return 'health index low';
  if (kind === 'rul') return 'end of useful life near';
  return cause;
}

/** Why the alarm was raised, with the numbers behind it. */
function explain({ cause, explanation: why }: Alarm): string {
  const [kind, metric] = cause.split(':');
  if (kind === 'range') {
    const range = `${why.min == null ? '−∞' : num(why.min)} … ${why.max == null ? '∞' : num(why.max)}`;
    return `${metric} read ${num(why.value)}, beyond its limit of ${num(why.limit)} (normal range ${range}).`;
  }
  if (kind === 'anomaly') {
    const expected = why.baseline == null ? '' : ` where about ${num(why.baseline)}${why.spread == null ? '' : ` ± ${num(why.spread)}`} was expected`;
    return `${metric} read ${num(why.value)}${expected}: anomaly score ${num(why.score)}, threshold ${num(why.threshold)} (${String(why.detector)} detector).`;
  }
  if (typeof why.message === 'string') {
    const life = why.p50 == null ? '' : ` Remaining useful life p50 ${num(why.p50)} ${String(why.unit)} (p10–p90 ${num(why.p10)}–${num(why.p90)}).`;
    return `${why.message}${life}`;
  }
  return Object.entries(why)
    .map(([key, value]) => `${key}: ${typeof value === 'number' ? num(value) : String(value)}`)
    .join(', ');
}

const ACTIONS = {
  acknowledge: { field: 'acknowledgeAlarm', call: 'acknowledgeAlarm(id: $id, comment: $text)', text: 'String', verb: 'acknowledging' },
  assign: { field: 'assignAlarm', call: 'assignAlarm(id: $id, assignee: $text)', text: 'String', verb: 'assigning' },
  comment: { field: 'commentAlarm', call: 'commentAlarm(id: $id, text: $text)', text: 'String!', verb: 'commenting on' },
};
type Action = keyof typeof ACTIONS;

/** Does `action` with the organization of the alarm's twin, which decides; the alarm as it is now. */
async function act(session: Session, alarm: AlarmItem, action: Action, text: string | null): Promise<Alarm> {
  const { field, call, text: type, verb } = ACTIONS[action];
  // The organization's name goes into the mutation's text: only a slug may.
  if (!isValidSlug(alarm.twin.org.slug)) throw new Error(`${alarm.twin.org.slug} is not an organization of this network.`);
  const org = fieldName(alarm.twin.org.slug);
  const mutation = `mutation AlarmAction($id: ID!, $text: ${type}) { ${org} { ${call} { ${ALARM_FIELDS} } } }`;
  try {
    const { data, problems } = await query<Record<string, Record<string, Alarm> | null>>(session, mutation, { id: alarm.id, text });
    const changed = data?.[org]?.[field];
    if (!changed) throw new Error(problems.join(' '));
    return changed;
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(refusedFor(message, 'alarms:write') ? `Your tokens do not allow ${verb} alarms of ${alarm.twin.org.name}.` : message);
  }
}

/** The alarm's changes, oldest first, read again whenever the alarm changes. */
function History({ session, alarm }: { session: Session; alarm: AlarmItem }) {
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let wanted = true;
    const find = async (after: string | null): Promise<HistoryEntry[]> => {
      type Page = {
        twin: {
          alarms: { edges: { node: { id: string; history: HistoryEntry[] | null } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } | null;
        } | null;
      };
      const { data, problems } = await query<Page>(session, HISTORY, { id: alarm.twinId, states: [alarm.state], after });
      const page = data?.twin?.alarms;
      if (!page) throw new Error(problems.join(' ') || 'The alarm is no longer there.');
      const found = page.edges.find((edge) => edge.node.id === alarm.id);
      if (found) return found.node.history ?? [];
      if (!page.pageInfo.hasNextPage) throw new Error('The alarm has changed since: its history is on its way.');
      return find(page.pageInfo.endCursor);
    };
    find(null)
      .then((found) => wanted && (setEntries(found), setProblem(null)))
      .catch((error: Error) => wanted && setProblem(error.message));
    return () => {
      wanted = false;
    };
  }, [session, alarm]);
  if (problem) return <p class="error">{problem}</p>;
  if (!entries) return <p>Loading its history…</p>;
  return (
    <ol class="alarm-history" data-testid="alarm-history">
      {entries.map((entry, index) => (
        <li key={index} data-action={entry.action}>
          <time>{new Date(entry.at).toLocaleString()}</time> {entry.action.toLowerCase()} by {entry.by}
          {entry.text && <>: “{entry.text}”</>}
        </li>
      ))}
    </ol>
  );
}

/** One alarm with its lifecycle actions, its explanation and, opened, its history. */
function AlarmRow({ session, alarm, showTwin, onChanged }: { session: Session; alarm: AlarmItem; showTwin: boolean; onChanged: (alarm: Alarm) => void }) {
  const [open, setOpen] = useState(false);
  const [action, setAction] = useState<Action | null>(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const start = (next: Action) => {
    setAction(next === action ? null : next);
    setText(next === 'assign' ? (alarm.assignee ?? '') : '');
    setProblem(null);
  };
  const submit = (event: Event) => {
    event.preventDefault();
    if (!action) return;
    setBusy(true);
    act(session, alarm, action, text.trim() || null)
      .then((changed) => {
        onChanged(changed);
        setAction(null);
        setProblem(null);
      })
      .catch((error: Error) => setProblem(error.message))
      .finally(() => setBusy(false));
  };

  const acknowledged = alarm.state === 'ACTIVE_ACKNOWLEDGED' || alarm.state === 'CLOSED';
  // Actions are offered where the session's tokens claim alarms:write at the twin's organization.
  const writable = claimsScope(session, alarm.twin.org.slug, 'alarms:write');
  return (
    <li class={`alarm severity-${alarm.severity}`} data-testid="alarm" data-alarm-id={alarm.id} data-twin-id={alarm.twinId} data-state={alarm.state}>
      <div class="alarm-summary">
        <span class={`severity severity-${alarm.severity}`}>{alarm.severity}</span>
        <strong>{causeWords(alarm.cause)}</strong>
        {showTwin && (
          <span>
            <a href={twinPath(alarm.twinId)}>{alarm.twin.name ?? alarm.twinId}</a> <small>{alarm.twin.org.name}</small>
          </span>
        )}
        <span data-testid="alarm-state">{STATE_WORDS[alarm.state]}</span>
        <time>since {new Date(alarm.activatedAt).toLocaleString()}</time>
        {alarm.escalation > 0 && <span class="escalated">escalated ×{alarm.escalation}</span>}
        {alarm.acknowledgedBy && <span>acknowledged by {alarm.acknowledgedBy}</span>}
        <span data-testid="alarm-assignee">{alarm.assignee ? `assigned to ${alarm.assignee}` : 'unassigned'}</span>
      </div>
      <div class="alarm-actions">
        {writable && !acknowledged && (
          <button type="button" data-testid="alarm-acknowledge" onClick={() => start('acknowledge')}>
            Acknowledge
          </button>
        )}
        {writable && (
          <>
            <button type="button" data-testid="alarm-assign" onClick={() => start('assign')}>
              Assign
            </button>
            <button type="button" data-testid="alarm-comment" onClick={() => start('comment')}>
              Comment
            </button>
          </>
        )}
        <button type="button" data-testid="alarm-details" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Hide details' : 'Details'}
        </button>
      </div>
      {action && (
        <form class="alarm-form" onSubmit={submit}>
          <label>
            {action === 'acknowledge' ? 'Comment (optional)' : action === 'assign' ? 'Assign to (empty: nobody)' : 'Comment'}{' '}
            <input data-testid="alarm-text" value={text} maxLength={1000} onInput={(event) => setText(event.currentTarget.value)} />
          </label>
          <button type="submit" data-testid="alarm-submit" disabled={busy || (action === 'comment' && text.trim() === '')}>
            {action === 'acknowledge' ? 'Acknowledge' : action === 'assign' ? (text.trim() ? 'Assign' : 'Assign to nobody') : 'Add comment'}
          </button>
          <button type="button" onClick={() => setAction(null)}>
            Cancel
          </button>
        </form>
      )}
      {problem && (
        <p class="error" role="alert" data-testid="alarm-error">
          {problem}
        </p>
      )}
      {open && (
        <div class="alarm-details">
          <p data-testid="alarm-explanation">{explain(alarm)}</p>
          <History session={session} alarm={alarm} />
        </div>
      )}
    </li>
  );
}

function AlarmList({ session, alarms, showTwin, onChanged }: { session: Session; alarms: AlarmItem[]; showTwin: boolean; onChanged: (alarm: Alarm) => void }) {
  return (
    <ul class="alarms" data-testid="alarms">
      {alarms.map((alarm) => (
        <AlarmRow key={alarm.id} session={session} alarm={alarm} showTwin={showTwin} onChanged={onChanged} />
      ))}
    </ul>
  );
}

function ShowClosed({ checked, onChange }: { checked: boolean; onChange: (checked: boolean) => void }) {
  return (
    <label class="toggle">
      <input type="checkbox" data-testid="include-closed" checked={checked} onChange={(event) => onChange(event.currentTarget.checked)} /> Include closed alarms
    </label>
  );
}

function Problems({ problems }: { problems: string[] }) {
  return problems.length > 0 ? (
    <div class="error" role="alert" data-testid="error">
      {problems.map((problem) => (
        <p key={problem}>{problem}</p>
      ))}
    </div>
  ) : null;
}

/** A twin's alarms on its page: "not shared" when its organization does not share them with the session. */
export function TwinAlarms({ session, twin }: { session: Session; twin: TwinRef }) {
  const [includeClosed, setIncludeClosed] = useState(false);
  const { alarms, loaded, problems, changed } = useAlarms(session, twin, includeClosed);
  return (
    <section class="twin-alarms" data-testid="twin-alarms">
      <h2>Alarms</h2>
      <Problems problems={problems} />
      {loaded?.notShared.length ? (
        <p class="not-shared" data-testid="not-shared">
          Not shared with you.
        </p>
      ) : (
        <>
          <ShowClosed checked={includeClosed} onChange={setIncludeClosed} />
          {loaded && alarms.length === 0 && <p>No {includeClosed ? '' : 'open '}alarms.</p>}
          <AlarmList session={session} alarms={alarms} showTwin={false} onChanged={changed} />
          {loaded && loaded.more.length > 0 && <p class="hint">Only the newest 50 are shown.</p>}
        </>
      )}
    </section>
  );
}

/** Every alarm the session may see, across organizations, live: the inbox. */
export function AlarmsPage({ session }: { session: Session }) {
  const [includeClosed, setIncludeClosed] = useState(false);
  const [severity, setSeverity] = useState('');
  const [state, setState] = useState('');
  const [org, setOrg] = useState('');
  const { alarms, loaded, problems, changed } = useAlarms(session, null, includeClosed);
  const orgs = [...new Map(alarms.map((alarm) => [alarm.twin.org.slug, alarm.twin.org.name])).entries()].sort((a, b) => a[1].localeCompare(b[1]));
  const shown = alarms.filter(
    (alarm) => (!severity || alarm.severity === severity) && (!state || alarm.state === state) && (!org || alarm.twin.org.slug === org),
  );
  return (
    <main class="page alarms-page">
      <h1>Alarms</h1>
      <Problems problems={problems} />
      {loaded?.notShared.map((name) => (
        <p key={name} class="notice" data-testid="org-not-shared">
          {name} does not share its alarms with you.
        </p>
      ))}
      <div class="filters">
        <label>
          Severity
          <select data-testid="filter-severity" value={severity} onChange={(event) => setSeverity(event.currentTarget.value)}>
            <option value="">All</option>
            {SEVERITIES.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        <label>
          State
          <select data-testid="filter-state" value={state} onChange={(event) => setState(event.currentTarget.value)}>
            <option value="">All {includeClosed ? '' : 'open'}</option>
            {(includeClosed ? [...OPEN_STATES, 'CLOSED' as const] : OPEN_STATES).map((value) => (
              <option key={value} value={value}>
                {STATE_WORDS[value]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Organization
          <select data-testid="filter-org" value={org} onChange={(event) => setOrg(event.currentTarget.value)}>
            <option value="">All</option>
            {orgs.map(([slug, name]) => (
              <option key={slug} value={slug}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <ShowClosed checked={includeClosed} onChange={setIncludeClosed} />
      </div>
      {!loaded && problems.length === 0 ? (
        <p>Loading alarms…</p>
      ) : (
        <p data-testid="alarm-count">
          {shown.length} of {alarms.length} {includeClosed ? '' : 'open '}alarms
        </p>
      )}
      <AlarmList session={session} alarms={shown} showTwin={true} onChanged={changed} />
      {loaded && loaded.more.length > 0 && (
        <p class="hint">
          More alarms of{' '}
          {loaded.more.map((twin, index) => (
            <span key={twin.id}>
              {index > 0 && ', '}
              <a href={twinPath(twin.id)}>{twin.name ?? twin.id}</a>
            </span>
          ))}{' '}
          are on their pages.
        </p>
      )}
    </main>
  );
}
