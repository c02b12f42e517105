import { useEffect, useMemo, useState } from 'preact/hooks';
import { refusedFor, TwinAlarms } from './alarms.tsx';
import { query, subscribe, useProblems } from './api.ts';
import { Chart, type Anomaly, type Point, type Span } from './chart.tsx';
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

interface Metric {
  name: string;
  unit: string;
  min: number | null;
  max: number | null;
}

interface Twin {
  id: string;
  name: string | null;
  kind: string | null;
  description: string | null;
  tags: string[] | null;
  org: { slug: string; name: string };
  metrics: Metric[] | null;
  state: { status: Status; updatedAt: string | null; metrics: MetricState[] } | null;
  /** Null while the twin's organization is down: it keeps the list. */
  suppliedBy: Neighbour[] | null;
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

const HISTORY = `query History($id: ID!, $metric: String!, $from: DateTime!, $to: DateTime!, $bucketSeconds: Int!, $minScore: Float!) {
  twin(id: $id) {
    aggregates(metric: $metric, from: $from, to: $to, bucketSeconds: $bucketSeconds) { start avg }
    anomalies(metric: $metric, from: $from, to: $to, minScore: $minScore, first: 100) { edges { node { at score } } pageInfo { hasNextPage } }
  }
}`;

const ANALYTICS = `query Analytics($id: ID!, $from: DateTime!, $to: DateTime!) {
  twin(id: $id) {
    health { index p10 p50 p90 unit updatedAt modelTrainedAt }
    kpis(from: $from, to: $to) {
      availability failures repairs mtbfSeconds mttrSeconds uptimeSeconds downtimeSeconds
      statusSeconds { status seconds }
      oee { oee availability performance quality }
    }
  }
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
/** The narrowest window a zoom goes to. */
const MIN_SPAN_MS = 60_000;
/** Readings scored at least this are marked anomalous on the charts. */
const ANOMALOUS = 0.5;
const NONE: Anomaly[] = [];

interface HistoryAnswer {
  twin: {
    aggregates: { start: string; avg: number }[] | null;
    anomalies: { edges: { node: { at: string; score: number } }[]; pageInfo: { hasNextPage: boolean } } | null;
  } | null;
}

/** A metric's chart over the page's span: its aggregates and anomalous readings asked for once per span. */
function History({
  session,
  twin,
  metric,
  span,
  following,
  live,
  onZoom,
}: {
  session: Session;
  twin: string;
  metric: Metric;
  span: Span;
  following: boolean;
  live: Point[];
  onZoom: (span: Span) => void;
}) {
  const [history, setHistory] = useState<Point[]>([]);
  // Null until known; 'refused' when not shared.
  const [anomalies, setAnomalies] = useState<{ points: Anomaly[]; more: boolean } | 'refused' | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let wanted = true;
    const bucketSeconds = Math.max(1, Math.ceil((span.to - span.from) / 1000 / BUCKETS));
    const variables = {
      id: twin,
      metric: metric.name,
      from: new Date(span.from).toISOString(),
      to: new Date(span.to).toISOString(),
      bucketSeconds,
      minScore: ANOMALOUS,
    };
    query<HistoryAnswer>(session, HISTORY, variables)
      .then(({ data, problems }) => {
        if (!wanted) return;
        setHistory((data?.twin?.aggregates ?? []).map((bucket) => ({ at: Date.parse(bucket.start), value: bucket.avg })));
        const scores = data?.twin?.anomalies;
        const refused = problems.some((found) => refusedFor(found, 'analytics:read'));
        if (scores)
          setAnomalies({ points: scores.edges.map(({ node }) => ({ at: Date.parse(node.at), score: node.score })), more: scores.pageInfo.hasNextPage });
        else setAnomalies(refused ? 'refused' : null);
        setProblem(problems.find((found) => !refusedFor(found, 'analytics:read')) ?? null);
      })
      .catch((error: Error) => wanted && setProblem(error.message));
    return () => {
      wanted = false;
    };
  }, [session, twin, metric.name, span]);
  const band = useMemo(() => ({ min: metric.min, max: metric.max }), [metric.min, metric.max]);
  // Readings of the span asked for are in its history already: only later ones are drawn as they come.
  const after = useMemo(() => live.filter((point) => point.at >= span.to), [live, span]);
  return (
    <>
      {problem && (
        <p class="error" role="alert" data-testid="error">
          {problem}
        </p>
      )}
      <Chart
        metric={metric.name}
        unit={metric.unit}
        history={history}
        live={after}
        span={span}
        following={following}
        band={band}
        anomalies={typeof anomalies === 'object' && anomalies ? anomalies.points : NONE}
        onZoom={onZoom}
      />
      <p class="range-note">
        {(metric.min !== null || metric.max !== null) && (
          <span data-testid="normal-band" data-min={metric.min ?? ''} data-max={metric.max ?? ''}>
            Normal range (shaded): {metric.min ?? '−∞'} … {metric.max ?? '∞'} {metric.unit}.{' '}
          </span>
        )}
        {anomalies === 'refused' ? (
          <span class="not-shared" data-testid="not-shared">
            Anomaly scores: not shared with you.
          </span>
        ) : (
          anomalies && (
            <span data-testid="anomaly-count" data-count={anomalies.points.length}>
              {anomalies.points.length}
              {anomalies.more ? '+' : ''} {anomalies.points.length === 1 ? 'reading' : 'readings'} scored anomalous (≥ {ANOMALOUS}), marked in red.
            </span>
          )
        )}
      </p>
    </>
  );
}

interface Analytics {
  health: {
    index: number | null;
    p10: number | null;
    p50: number | null;
    p90: number | null;
    unit: string;
    updatedAt: string | null;
    modelTrainedAt: string | null;
  } | null;
  kpis: {
    availability: number | null;
    failures: number;
    repairs: number;
    mtbfSeconds: number | null;
    mttrSeconds: number | null;
    uptimeSeconds: number;
    downtimeSeconds: number;
    statusSeconds: { status: Status; seconds: number }[];
    oee: { oee: number | null; availability: number | null; performance: number | null; quality: number | null } | null;
  } | null;
}

/** A duration as people read it: seconds to days, two units at most. */
function duration(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['min', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [name, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)} ${name}`);
      rest %= size;
    } else if (parts.length > 0) break;
  }
  return parts.join(' ') || '0 s';
}

const percent = (share: number | null) => (share === null ? '—' : `${formatValue(share * 100)} %`);

function HealthSection({ kind, health, shared }: { kind: string | null; health: Analytics['health']; shared: boolean }) {
  let body;
  if (!shared) body = <p class="not-shared">Not shared with you.</p>;
  else if (!health)
    body = <p data-testid="no-model">No health model for {kind ?? 'this kind of'} twins yet: it is trained once failures of such twins are recorded.</p>;
  else if (health.index === null) body = <p data-testid="no-model">The model has no estimate for this twin yet.</p>;
  else
    body = (
      <>
        <p>
          Health index <meter min={0} max={1} low={0.3} high={0.6} optimum={1} value={health.index} />{' '}
          <strong data-testid="health-index">{formatValue(health.index)}</strong> (1 as new, 0 worn out)
        </p>
        {health.p50 !== null && (
          <p data-testid="rul">
            Remaining useful life p50 {formatValue(health.p50)} {health.unit} ({formatValue(health.p10 ?? 0)}–{formatValue(health.p90 ?? 0)} {health.unit},
            p10–p90)
          </p>
        )}
        <p class="hint">
          {health.updatedAt && <>Estimated {new Date(health.updatedAt).toLocaleString()}. </>}
          {health.modelTrainedAt && <>Model trained {new Date(health.modelTrainedAt).toLocaleString()}.</>}
        </p>
      </>
    );
  return (
    <section class="analytics-panel" data-testid="health">
      <h2>Health and remaining useful life</h2>
      {body}
    </section>
  );
}

function KpiSection({ kpis, shared }: { kpis: Analytics['kpis']; shared: boolean }) {
  return (
    <section class="analytics-panel" data-testid="kpis">
      <h2>KPIs over the charts’ range</h2>
      {!shared ? (
        <p class="not-shared">Not shared with you.</p>
      ) : kpis ? (
        <dl class="kpis">
          <dt>Availability</dt>
          <dd data-testid="kpi-availability">{percent(kpis.availability)}</dd>
          <dt>Failures</dt>
          <dd data-testid="kpi-failures">{kpis.failures}</dd>
          <dt>Repairs</dt>
          <dd>{kpis.repairs}</dd>
          <dt>MTBF</dt>
          <dd data-testid="kpi-mtbf">{kpis.mtbfSeconds === null ? 'no failure' : duration(kpis.mtbfSeconds)}</dd>
          <dt>MTTR</dt>
          <dd data-testid="kpi-mttr">{kpis.mttrSeconds === null ? 'no repair' : duration(kpis.mttrSeconds)}</dd>
          <dt>Up / down</dt>
          <dd>
            {duration(kpis.uptimeSeconds)} / {duration(kpis.downtimeSeconds)}
          </dd>
          {kpis.oee && (
            <>
              <dt>OEE</dt>
              <dd data-testid="kpi-oee">
                {percent(kpis.oee.oee)} (availability {percent(kpis.oee.availability)}, performance {percent(kpis.oee.performance)}, quality{' '}
                {percent(kpis.oee.quality)})
              </dd>
            </>
          )}
          <dt>Time per status</dt>
          <dd>
            {kpis.statusSeconds
              .filter((time) => time.seconds > 0)
              .map((time) => `${time.status} ${duration(time.seconds)}`)
              .join(' · ') || '—'}
          </dd>
        </dl>
      ) : (
        <p>No KPIs.</p>
      )}
    </section>
  );
}

/** The twin's health and KPIs over the page's span, asked for once per span; sections its tokens do not reach say so. */
function AnalyticsSections({ session, twin, span }: { session: Session; twin: Twin; span: Span }) {
  const [analytics, setAnalytics] = useState<(Analytics & { shared: boolean }) | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  useEffect(() => {
    let wanted = true;
    query<{ twin: Analytics | null }>(session, ANALYTICS, { id: twin.id, from: new Date(span.from).toISOString(), to: new Date(span.to).toISOString() })
      .then(({ data, problems: found }) => {
        if (!wanted) return;
        const refused = found.filter((problem) => refusedFor(problem, 'analytics:read'));
        setAnalytics({ health: data?.twin?.health ?? null, kpis: data?.twin?.kpis ?? null, shared: refused.length === 0 });
        setProblems(found.filter((problem) => !refused.includes(problem)));
      })
      .catch((error: Error) => wanted && setProblems([error.message]));
    return () => {
      wanted = false;
    };
  }, [session, twin.id, span]);
  return (
    <div class="analytics">
      {problems.map((problem) => (
        <p key={problem} class="error" role="alert" data-testid="error">
          {problem}
        </p>
      ))}
      {analytics ? (
        <>
          <HealthSection kind={twin.kind} health={analytics.health} shared={analytics.shared} />
          <KpiSection kpis={analytics.kpis} shared={analytics.shared} />
        </>
      ) : (
        problems.length === 0 && <p>Loading health and KPIs…</p>
      )}
    </div>
  );
}

function Neighbours({ title, testid, twins }: { title: string; testid: string; twins: Neighbour[] | null }) {
  return (
    <section>
      <h2>{title}</h2>
      {twins === null ? (
        <p>Not known while the twin's organization is unavailable.</p>
      ) : twins.length === 0 ? (
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
  const { problems, report } = useProblems();
  const [loading, setLoading] = useState(true);
  const [deleted, setDeleted] = useState(false);
  const [rangeMs, setRangeMs] = useState(RANGES[0]!.ms);
  // A window zoomed or panned to; null: the range up to now, following the clock.
  const [zoom, setZoom] = useState<Span | null>(null);
  const span = useMemo(() => zoom ?? { from: Date.now() - rangeMs, to: Date.now() }, [zoom, rangeMs]);
  const zoomTo = (next: Span) => {
    const middle = (next.from + next.to) / 2;
    const half = Math.max(MIN_SPAN_MS, next.to - next.from) / 2;
    setZoom({ from: middle - half, to: Math.min(Date.now(), middle + half) });
  };
  /** Moves the window by half its width, earlier (-1) or later (1); back to following the clock once it reaches now. */
  const pan = (direction: -1 | 1) => {
    const shift = ((span.to - span.from) / 2) * direction;
    if (span.to + shift >= Date.now()) setZoom(null);
    else setZoom({ from: span.from + shift, to: span.to + shift });
  };

  useEffect(() => {
    let wanted = true;
    const read = () =>
      query<{ twin: Twin | null }>(session, TWIN, { id })
        .then(({ data, problems: found }) => {
          if (!wanted) return;
          setTwin(data?.twin ?? null);
          setState((current) => current ?? data?.twin?.state ?? null);
          found.forEach(report);
        })
        .catch((error: Error) => wanted && report(error.message))
        .finally(() => setLoading(false));
    const stop = subscribe<TwinEvent>(
      session,
      EVENTS,
      { id },
      (event) => {
        if (event.type === 'DELETED') setDeleted(true);
        // Renamed, its metrics or normal ranges changed: the page shows the twin as it is now.
        if (event.type === 'UPDATED') read();
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
    read();
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
        {state?.updatedAt && <> · updated {new Date(state.updatedAt).toLocaleString()}</>} ·{' '}
        <a href={`/impact?twin=${encodeURIComponent(twin.id)}`} data-testid="twin-impact">
          What if it stops?
        </a>
      </p>
      {twin.description && <p>{twin.description}</p>}
      {twin.tags && twin.tags.length > 0 && <p class="tags">{twin.tags.join(' · ')}</p>}
      <div class="chart-controls">
        <label>
          Range{' '}
          <select
            data-testid="range"
            value={rangeMs}
            onChange={(event) => {
              setRangeMs(Number(event.currentTarget.value));
              setZoom(null);
            }}
          >
            {RANGES.map((range) => (
              <option key={range.ms} value={range.ms}>
                {range.label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" data-testid="pan-earlier" onClick={() => pan(-1)}>
          ◀ Earlier
        </button>
        <button type="button" data-testid="pan-later" disabled={!zoom} onClick={() => pan(1)}>
          Later ▶
        </button>
        <button type="button" data-testid="zoom-reset" disabled={!zoom} onClick={() => setZoom(null)}>
          Reset zoom
        </button>
        <span class="hint" data-testid="span" data-from={span.from} data-to={span.to}>
          {zoom ? `${new Date(span.from).toLocaleString()} – ${new Date(span.to).toLocaleString()}` : 'live'} · drag across a chart to zoom
        </span>
      </div>
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
              <History session={session} twin={twin.id} metric={metric} span={span} following={zoom === null} live={live[metric.name] ?? []} onZoom={zoomTo} />
            </section>
          );
        })}
      </div>
      <TwinAlarms session={session} twin={twin} />
      <AnalyticsSections session={session} twin={twin} span={span} />
      <div class="neighbours">
        <Neighbours title="Suppliers" testid="supplier" twins={twin.suppliedBy} />
        <Neighbours title="Customers" testid="customer" twins={twin.supplies} />
      </div>
    </main>
  );
}
