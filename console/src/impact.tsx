import { useEffect, useMemo, useState } from 'preact/hooks';
import { query } from './api.ts';
import { ImpactGraph } from './impact-graph.tsx';
import {
  AFFECTED_SHOWN,
  boundaryText,
  DEFAULT_BOUNDS,
  formatHours,
  formatNumber,
  formatShare,
  formatUnits,
  HOUR_MS,
  IMPACT,
  startOf,
  urgencyOf,
  URGENCIES,
  type Bounds,
  type Disruption,
  type Impact,
} from './impact-model.ts';
import { WhatIf } from './impact-whatif.tsx';
import { loadTwins, type MapTwin } from './network.ts';
import { navigate, twinPath } from './router.ts';
import type { Session } from './session.ts';

/** The disruption as the form holds it, as typed. */
interface DisruptionForm {
  twinId: string;
  start: 'now' | 'at';
  startAt: string;
  end: 'hours' | 'until';
  hours: string;
  until: string;
  /** Percent of its output the twin loses. */
  lost: string;
  predicted: boolean;
  horizonHours: string;
  maxHops: string;
}

const MAX_HOPS = 32;
const MAX_HORIZON_HOURS = 366 * 24;
/** Twins the picker lists at once: a search narrows them. */
const PICKER_SIZE = 100;

/** A time for a `datetime-local` field: local, to the minute. */
const localInput = (time: number) => new Date(time - new Date(time).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

const number = (text: string) => (text.trim() === '' ? NaN : Number(text));

/** The question the form asks, or why it cannot be asked, in plain words. */
function questionOf(form: DisruptionForm): { disruption: Disruption; bounds: Bounds } {
  if (!form.twinId) throw new Error('Pick the twin to disrupt.');
  const lost = number(form.lost);
  if (!(lost > 0 && lost <= 100)) throw new Error('The output lost is a percentage above 0, up to 100.');
  const horizonHours = number(form.horizonHours);
  if (!(horizonHours > 0 && horizonHours <= MAX_HORIZON_HOURS)) throw new Error(`Look ahead more than 0 hours, at most ${MAX_HORIZON_HOURS}.`);
  const maxHops = number(form.maxHops);
  if (!(Number.isInteger(maxHops) && maxHops >= 1 && maxHops <= MAX_HOPS)) throw new Error(`Follow from 1 to ${MAX_HOPS} hops.`);
  const disruption: Disruption = { twinId: form.twinId, capacity: Number((1 - lost / 100).toFixed(6)), predicted: form.predicted };
  if (!form.predicted) {
    const from = form.start === 'at' ? Date.parse(form.startAt) : Date.now();
    if (form.start === 'at') {
      if (Number.isNaN(from)) throw new Error('Give the date and time the disruption starts.');
      disruption.from = new Date(from).toISOString();
    }
    if (form.end === 'hours') {
      const hours = number(form.hours);
      if (!(hours > 0)) throw new Error('Give how many hours the disruption lasts, more than 0.');
      disruption.hours = hours;
    } else {
      const to = Date.parse(form.until);
      if (Number.isNaN(to) || to <= from) throw new Error('Give the date and time the disruption ends, after it starts.');
      disruption.to = new Date(to).toISOString();
    }
  }
  return { disruption, bounds: { horizonHours, maxHops } };
}

/** A searchable list of the twins the session may see. */
function TwinPicker({ twins, loaded, value, onChange }: { twins: MapTwin[] | null; loaded: number; value: string; onChange: (id: string) => void }) {
  const [search, setSearch] = useState('');
  const matches = useMemo(() => {
    const text = search.trim().toLowerCase();
    const found = (twins ?? []).filter((twin) => !text || `${twin.id} ${twin.name} ${twin.kind} ${twin.org.name}`.toLowerCase().includes(text));
    return found.sort((a, b) => a.org.name.localeCompare(b.org.name) || a.name.localeCompare(b.name));
  }, [twins, search]);
  const shown = matches.slice(0, PICKER_SIZE);
  const chosen = twins?.find((twin) => twin.id === value);
  return (
    <fieldset class="twin-picker">
      <legend>Twin</legend>
      <input
        type="search"
        data-testid="impact-twin-search"
        placeholder="Search by name, id, kind or organization"
        aria-label="Search twins"
        value={search}
        onInput={(event) => setSearch(event.currentTarget.value)}
      />
      {twins === null ? (
        <p aria-live="polite">Loading twins… {loaded} so far</p>
      ) : (
        <select data-testid="impact-twin" size={6} aria-label="Twin to disrupt" value={value} onChange={(event) => onChange(event.currentTarget.value)}>
          {value && !shown.some((twin) => twin.id === value) && <option value={value}>{chosen ? `${chosen.name} (${chosen.org.name})` : value}</option>}
          {shown.map((twin) => (
            <option key={twin.id} value={twin.id}>
              {twin.name} ({twin.org.name})
            </option>
          ))}
        </select>
      )}
      {matches.length > PICKER_SIZE && <p class="hint">{matches.length - PICKER_SIZE} more: narrow the search.</p>}
    </fieldset>
  );
}

function DisruptionFields({ form, set }: { form: DisruptionForm; set: (change: Partial<DisruptionForm>) => void }) {
  const text = (key: keyof DisruptionForm) => (event: Event) => set({ [key]: (event.currentTarget as HTMLInputElement).value });
  return (
    <>
      <fieldset disabled={form.predicted}>
        <legend>When</legend>
        <label>
          <input type="radio" name="start" data-testid="impact-start-now" checked={form.start === 'now'} onChange={() => set({ start: 'now' })} /> from now
        </label>
        <label>
          <input
            type="radio"
            name="start"
            data-testid="impact-start-choose-at"
            checked={form.start === 'at'}
            onChange={() => set({ start: 'at', startAt: form.startAt || localInput(Date.now()) })}
          />{' '}
          from
          <input
            type="datetime-local"
            data-testid="impact-start-at"
            aria-label="Starts at"
            value={form.startAt}
            onInput={text('startAt')}
            disabled={form.start !== 'at'}
          />
        </label>
        <label>
          <input type="radio" name="end" checked={form.end === 'hours'} onChange={() => set({ end: 'hours' })} /> for
          <input
            type="number"
            data-testid="impact-hours"
            aria-label="Hours"
            min="0"
            step="any"
            value={form.hours}
            onInput={text('hours')}
            disabled={form.end !== 'hours'}
          />{' '}
          hours
        </label>
        <label>
          <input
            type="radio"
            name="end"
            data-testid="impact-end-choose-until"
            checked={form.end === 'until'}
            onChange={() => set({ end: 'until', until: form.until || localInput(Date.now() + 24 * HOUR_MS) })}
          />{' '}
          until
          <input
            type="datetime-local"
            data-testid="impact-until"
            aria-label="Ends at"
            value={form.until}
            onInput={text('until')}
            disabled={form.end !== 'until'}
          />
        </label>
      </fieldset>
      <fieldset>
        <legend>How</legend>
        <label>
          Output lost (%)
          <input type="number" data-testid="impact-lost" min="0" max="100" step="any" value={form.lost} onInput={text('lost')} />
        </label>
        <label class="inline">
          <input
            type="checkbox"
            data-testid="impact-predicted"
            checked={form.predicted}
            onChange={(event) => set({ predicted: event.currentTarget.checked })}
          />{' '}
          its predicted failure instead (from its remaining useful life, for its mean time to repair)
        </label>
      </fieldset>
      <fieldset>
        <legend>How far</legend>
        <label>
          Look ahead (hours)
          <input type="number" data-testid="impact-horizon" min="1" max={MAX_HORIZON_HOURS} value={form.horizonHours} onInput={text('horizonHours')} />
        </label>
        <label>
          Organizations deep (hops)
          <input type="number" data-testid="impact-hops" min="1" max={MAX_HOPS} value={form.maxHops} onInput={text('maxHops')} />
        </label>
      </fieldset>
    </>
  );
}

/** The twins hit, soonest first: a row each, coloured as on the graph. */
function HitTable({ impact, twinName, orgName }: { impact: Impact; twinName: (id: string) => string; orgName: (slug: string) => string }) {
  const start = startOf(impact);
  const since = (time: string) => (Date.parse(time) - start) / HOUR_MS;
  const predicted = impact.affected.some((hit) => hit.chance !== null);
  return (
    <table class="impact-table" data-testid="impact-table">
      <thead>
        <tr>
          <th>Tier</th>
          <th>Twin</th>
          <th>Organization</th>
          <th>Hit in</th>
          <th>For</th>
          <th>Output lost</th>
          <th>Units lost</th>
          <th>At risk from</th>
          <th>Via</th>
          <th>Losses over time</th>
          {predicted && <th>Chance</th>}
        </tr>
      </thead>
      <tbody>
        {impact.affected.map((hit) => (
          <tr key={hit.twinId} data-twin-id={hit.twinId} class={`hit-${urgencyOf(hit)}`}>
            <td>{hit.tier}</td>
            <td>
              <a href={twinPath(hit.twinId)}>{twinName(hit.twinId)}</a>
            </td>
            <td>{hit.twin?.org.name ?? orgName(hit.org)}</td>
            <td data-testid="hit-in">{formatHours(hit.hoursToImpact)}</td>
            <td data-testid="hit-for">{formatHours(hit.durationHours)}</td>
            <td data-testid="hit-lost">{formatShare(hit.capacityLost)}</td>
            <td data-testid="hit-units">{formatUnits(hit)}</td>
            <td>{hit.atRiskFrom ? formatHours(since(hit.atRiskFrom)) : '—'}</td>
            <td data-testid="hit-via">{hit.via === hit.twinId ? '—' : twinName(hit.via)}</td>
            <td data-testid="hit-losses">
              {hit.losses.map((loss) => `${formatNumber(since(loss.from))}–${formatHours(since(loss.to))}: ${formatShare(loss.share)}`).join(' · ')}
            </td>
            {predicted && <td>{hit.chance === null ? '—' : formatShare(hit.chance)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Where the answer stops, each named: never left out. */
function Boundaries({ impact, twinName, orgName }: { impact: Impact; twinName: (id: string) => string; orgName: (slug: string) => string }) {
  if (impact.unknown.length === 0) return null;
  return (
    <section>
      <h3>Where the answer stops</h3>
      <ul class="boundaries" data-testid="impact-unknown">
        {impact.unknown.map((boundary, index) => (
          <li key={index} data-org={boundary.org} data-reason={boundary.reason}>
            {boundaryText(boundary, orgName)} <small>(past {boundary.twinIds.map(twinName).join(', ')})</small>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** What the answer supposes: each disruption as the network resolved it (a predicted one's start, its spread). */
function Disruptions({ impact, twinName }: { impact: Impact; twinName: (id: string) => string }) {
  return (
    <p data-testid="impact-disruptions">
      {impact.disruptions.map((disruption) => {
        const hours = (Date.parse(disruption.to) - Date.parse(disruption.from)) / HOUR_MS;
        const spread = disruption.spreadHours === null ? '' : ` (± ${formatHours(disruption.spreadHours)})`;
        return (
          <span key={disruption.twinId}>
            {twinName(disruption.twinId)} {disruption.predicted ? 'predicted to fail' : 'disrupted'} from {new Date(disruption.from).toLocaleString()}
            {spread} for {formatHours(hours)}, {disruption.capacity === 0 ? 'stopped' : `at ${formatShare(disruption.capacity)} of its output`}.{' '}
          </span>
        );
      })}
    </p>
  );
}

export function ImpactPage({ session, twinId }: { session: Session; twinId: string | null }) {
  const [twins, setTwins] = useState<MapTwin[] | null>(null);
  const [loaded, setLoaded] = useState(0);
  const [problems, setProblems] = useState<string[]>([]);
  const [form, setForm] = useState<DisruptionForm>({
    twinId: twinId ?? '',
    start: 'now',
    startAt: '',
    end: 'hours',
    hours: '72',
    until: '',
    lost: '100',
    predicted: false,
    horizonHours: String(DEFAULT_BOUNDS.horizonHours),
    maxHops: String(DEFAULT_BOUNDS.maxHops),
  });
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<{ impact: Impact; orgs: Map<string, string>; disruption: Disruption; bounds: Bounds } | null>(null);

  useEffect(() => {
    let wanted = true;
    loadTwins(session, () => wanted, setLoaded)
      .then((result) => {
        if (!result) return;
        setTwins(result.twins);
        if (result.problems.length > 0) setProblems(result.problems);
      })
      .catch((error: Error) => {
        if (!wanted) return;
        setProblems([error.message]);
        setTwins([]);
      });
    return () => {
      wanted = false;
    };
  }, [session]);

  const byId = useMemo(() => new Map((twins ?? []).map((twin) => [twin.id, twin])), [twins]);
  const twinName = (id: string) => answer?.impact.affected.find((hit) => hit.twinId === id)?.twin?.name ?? byId.get(id)?.name ?? id;
  const orgName = (slug: string) => answer?.orgs.get(slug) ?? slug;
  const suppliersOf = (id: string) => byId.get(id)?.suppliers ?? [];

  const set = (change: Partial<DisruptionForm>) => {
    setForm((current) => ({ ...current, ...change }));
    if (change.twinId) navigate(`/impact?twin=${encodeURIComponent(change.twinId)}`, true);
  };

  const run = (event: Event) => {
    event.preventDefault();
    let question: ReturnType<typeof questionOf>;
    try {
      question = questionOf(form);
    } catch (problem) {
      setProblems([(problem as Error).message]);
      return;
    }
    setBusy(true);
    setProblems([]);
    query<{ impact: Impact; organizations: { slug: string; name: string }[] }>(session, IMPACT, { of: question.disruption, ...question.bounds })
      .then(({ data, problems: found }) => {
        setAnswer({ impact: data!.impact, orgs: new Map(data!.organizations.map((org) => [org.slug, org.name])), ...question });
        setProblems(found);
      })
      .catch((error: Error) => setProblems([error.message]))
      .finally(() => setBusy(false));
  };

  const impact = answer?.impact;
  return (
    <main class="page impact-page">
      <h1>Impact and what-if</h1>
      <p class="hint">Pick a twin and a disruption: see who is hit downstream across the network, when and for how long, as far as your grants reach.</p>
      <form class="disruption" onSubmit={run} aria-busy={busy}>
        <TwinPicker twins={twins} loaded={loaded} value={form.twinId} onChange={(id) => set({ twinId: id })} />
        <DisruptionFields form={form} set={set} />
        <div class="impact-actions">
          <button type="submit" data-testid="impact-run" disabled={busy}>
            {busy ? 'Computing…' : 'Who is hit?'}
          </button>
        </div>
      </form>
      {problems.length > 0 && (
        <div class="error" role="alert" data-testid="error">
          {problems.map((problem) => (
            <p key={problem}>{problem}</p>
          ))}
        </div>
      )}
      {busy && (
        <p aria-live="polite" data-testid="impact-busy">
          Asking each organization in turn…
        </p>
      )}
      {impact && (
        <section class="impact-answer" data-testid="impact-answer" aria-busy={busy}>
          <h2>Who is hit, and when</h2>
          <Disruptions impact={impact} twinName={twinName} />
          <ul class="legend">
            {URGENCIES.map(({ urgency, label }) => (
              <li key={urgency} class={`hit-${urgency}`}>
                {label}
              </li>
            ))}
          </ul>
          <ImpactGraph impact={impact} suppliersOf={suppliersOf} orgName={orgName} />
          <Boundaries impact={impact} twinName={twinName} orgName={orgName} />
          {impact.affected.length === 0 ? (
            <p>No twin you may see is hit within {formatHours(answer.bounds.horizonHours)}.</p>
          ) : (
            <HitTable impact={impact} twinName={twinName} orgName={orgName} />
          )}
          {impact.affected.length === AFFECTED_SHOWN && <p class="hint">The soonest {AFFECTED_SHOWN} twins hit are shown; others are hit later.</p>}
          <p class="hint">Followed across {impact.hops} waves of organizations.</p>
        </section>
      )}
      <WhatIf session={session} question={answer} twinName={twinName} orgName={orgName} />
    </main>
  );
}
