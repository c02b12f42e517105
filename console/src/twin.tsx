import { useEffect, useState } from 'preact/hooks';
import { query, subscribe } from './api.ts';
import { Chart, type Point } from './chart.tsx';
import type { Status } from './network.ts';
import { twinPath } from './router.ts';
import type { Session } from './session.ts';

interface MetricState {
  metric: string;
  unit: string;
  value: number;
  at: string;
  inRange: boolean | null;
}

interface Neighbour {
  id: string;
  name: string | null;
  org: { name: string };
}

interface Twin {
  id: string;
  name: string | null;
  kind: string | null;
  description: string | null;
  tags: string[] | null;
  org: { slug: string; name: string };
  metrics: { name: string; unit: string; min: number | null; max: number | null }[] | null;
  state: { status: Status; updatedAt: string | null; metrics: MetricState[] } | null;
  suppliedBy: Neighbour[];
  supplies: Neighbour[];
}

const TWIN = `query Twin($id: ID!) {
  twin(id: $id) {
    id name kind description tags org { slug name }
    metrics { name unit min max }
    state { status updatedAt metrics { metric unit value at inRange } }
    suppliedBy { id name org { name } }
    supplies { id name org { name } }
  }
}`;

const HISTORY = `query History($id: ID!, $metric: String!, $from: DateTime!, $to: DateTime!, $bucketSeconds: Int!) {
  twin(id: $id) { aggregates(metric: $metric, from: $from, to: $to, bucketSeconds: $bucketSeconds) { start avg } }
}`;

const EVENTS = `subscription TwinEvents($id: ID!, $after: String) {
  twinEvents(filter: { twinIds: [$id], types: [STATE, ALERT, UPDATED, DELETED] }, after: $after) {
    cursor type state { status updatedAt metrics { metric unit value at inRange } }
  }
}`;

interface TwinEvent {
  cursor: string;
  type: 'STATE' | 'ALERT' | 'UPDATED' | 'DELETED';
  state: Twin['state'];
}

/** The ranges a chart covers, each in about 120 buckets. */
const RANGES = [
  { label: 'Last hour', ms: 3_600_000 },
  { label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { label: 'Last 24 hours', ms: 24 * 3_600_000 },
  { label: 'Last 7 days', ms: 7 * 24 * 3_600_000 },
];
const BUCKETS = 120;

function History({
  session,
  twin,
  metric,
  unit,
  rangeMs,
  live,
}: {
  session: Session;
  twin: string;
  metric: string;
  unit: string;
  rangeMs: number;
  live: Point[];
}) {
  const [history, setHistory] = useState<Point[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let wanted = true;
    const to = new Date();
    const variables = { id: twin, metric, from: new Date(to.getTime() - rangeMs).toISOString(), to: to.toISOString(), bucketSeconds: rangeMs / 1000 / BUCKETS };
    query<{ twin: { aggregates: { start: string; avg: number }[] | null } | null }>(session, HISTORY, variables)
      .then(({ data, problems }) => {
        if (!wanted) return;
        setHistory((data?.twin?.aggregates ?? []).map((bucket) => ({ at: Date.parse(bucket.start), value: bucket.avg })));
        setProblem(problems[0] ?? null);
      })
      .catch((error: Error) => wanted && setProblem(error.message));
    return () => {
      wanted = false;
    };
  }, [session, twin, metric, rangeMs]);
  // Readings from before the history was asked for are in it already.
  return (
    <>
      {problem && (
        <p class="error" role="alert" data-testid="error">
          {problem}
        </p>
      )}
      <Chart metric={metric} unit={unit} history={history} live={live} rangeMs={rangeMs} />
    </>
  );
}

function Neighbours({ title, testid, twins }: { title: string; testid: string; twins: Neighbour[] }) {
  return (
    <section>
      <h2>{title}</h2>
      {twins.length === 0 ? (
        <p>None you may see.</p>
      ) : (
        <ul>
          {twins.map((twin) => (
            <li key={twin.id} data-testid={testid}>
              <a href={twinPath(twin.id)}>{twin.name ?? twin.id}</a> <small>{twin.org.name}</small>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A reading as people read it: at most four significant digits, no trailing zeros. */
function formatValue(value: number): string {
  return String(Number(value.toPrecision(4)));
}

export function TwinPage({ session, id }: { session: Session; id: string }) {
  const [twin, setTwin] = useState<Twin | null>(null);
  const [state, setState] = useState<Twin['state']>(null);
  const [live, setLive] = useState<Record<string, Point[]>>({});
  const [problems, setProblems] = useState<string[]>([]);
  const [loading, setLoading] = useState(true);
  const [deleted, setDeleted] = useState(false);
  const [rangeMs, setRangeMs] = useState(RANGES[0]!.ms);

  useEffect(() => {
    let wanted = true;
    const report = (message: string) => setProblems((current) => (current.includes(message) ? current : [...current, message]));
    const stop = subscribe<TwinEvent>(
      session,
      EVENTS,
      { id },
      (event) => {
        if (event.type === 'DELETED') setDeleted(true);
        if (!event.state) return;
        const readings = event.state.metrics;
        setState(event.state);
        setLive((current) => {
          const next = { ...current };
          for (const reading of readings) {
            const points = next[reading.metric] ?? [];
            const at = Date.parse(reading.at);
            if (points.at(-1)?.at !== at) next[reading.metric] = [...points, { at, value: reading.value }];
          }
          return next;
        });
      },
      report,
      { about: id.split(':')[0] },
    );
    query<{ twin: Twin | null }>(session, TWIN, { id })
      .then(({ data, problems: found }) => {
        if (!wanted) return;
        setTwin(data?.twin ?? null);
        setState((current) => current ?? data?.twin?.state ?? null);
        found.forEach(report);
      })
      .catch((error: Error) => wanted && report(error.message))
      .finally(() => setLoading(false));
    return () => {
      wanted = false;
      stop();
    };
  }, [session, id]);

  const errors = problems.length > 0 && (
    <div class="error" role="alert" data-testid="error">
      {problems.map((problem) => (
        <p key={problem}>{problem}</p>
      ))}
    </div>
  );
  if (loading) return <main class="page">Loading {id}…</main>;
  if (!twin)
    return (
      <main class="page">
        {errors}
        <h1>No twin {id}</h1>
        <p>
          It does not exist or your tokens do not let you see it. Back to the <a href="/map">network map</a>.
        </p>
      </main>
    );

  const status = state?.status ?? 'UNKNOWN';
  const latest = new Map((state?.metrics ?? []).map((reading) => [reading.metric, reading]));
  return (
    <main class="page twin-page">
      {errors}
      {deleted && <p class="notice">This twin has been deleted.</p>}
      <h1 data-testid="twin-name">{twin.name ?? twin.id}</h1>
      <p>
        <span class={`status status-${status}`} data-testid="twin-status">
          {status}
        </span>{' '}
        {twin.kind} at {twin.org.name} · <code>{twin.id}</code>
        {state?.updatedAt && <> · updated {new Date(state.updatedAt).toLocaleString()}</>}
      </p>
      {twin.description && <p>{twin.description}</p>}
      {twin.tags && twin.tags.length > 0 && <p class="tags">{twin.tags.join(' · ')}</p>}
      <label>
        Range{' '}
        <select data-testid="range" value={rangeMs} onChange={(event) => setRangeMs(Number(event.currentTarget.value))}>
          {RANGES.map((range) => (
            <option key={range.ms} value={range.ms}>
              {range.label}
            </option>
          ))}
        </select>
      </label>
      <div class="metrics">
        {(twin.metrics ?? []).map((metric) => {
          const reading = latest.get(metric.name);
          return (
            <section key={metric.name} class="metric">
              <h2>
                {metric.name}:{' '}
                <span data-testid="metric-value" data-metric={metric.name} class={reading?.inRange === false ? 'out-of-range' : undefined}>
                  {reading ? `${formatValue(reading.value)} ${metric.unit}` : 'no reading yet'}
                </span>
              </h2>
              {(metric.min !== null || metric.max !== null) && (
                <p class="range-note">
                  Normal range: {metric.min ?? '−∞'} … {metric.max ?? '∞'} {metric.unit}
                </p>
              )}
              <History session={session} twin={twin.id} metric={metric.name} unit={metric.unit} rangeMs={rangeMs} live={live[metric.name] ?? []} />
            </section>
          );
        })}
      </div>
      <div class="neighbours">
        <Neighbours title="Suppliers" testid="supplier" twins={twin.suppliedBy} />
        <Neighbours title="Customers" testid="customer" twins={twin.supplies} />
      </div>
    </main>
  );
}
