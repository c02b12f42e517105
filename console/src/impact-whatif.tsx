import { useEffect, useMemo, useState } from 'preact/hooks';
import { query } from './api.ts';
import {
  AFFECTED_SHOWN,
  boundaryText,
  DEFAULT_BOUNDS,
  formatHours,
  formatNumber,
  formatShare,
  formatUnits,
  WHAT_IF,
  type Bounds,
  type Disruption,
  type Impact,
  type Modifications,
  type Scenario,
} from './impact-model.ts';
import { fieldName } from '../../lib/graphql/names.ts';
import { memberOf, type Session } from './session.ts';

/** Most scenarios compared at once, besides the disruption as it is. */
const MAX_COMPARED = 10;
const NO_MODIFICATIONS: Modifications = { alternates: [], extraStock: [], leadTimes: [] };

interface SupplyLink {
  supplierId: string;
  part: string | null;
  share: number;
  leadTimeHours: number;
  bufferHours: number | null;
}

const SUPPLY = `query Supply($id: ID!) { twin(id: $id) { supply { supplierId part share leadTimeHours bufferHours } } }`;

interface Saved {
  id: string;
  name: string;
  definition: Scenario;
  updatedAt: string;
}

/** A scenario to compare: saved at the organization (by id) or only built here. */
type Candidate = { key: string; name: string; scenario: Scenario; id?: string };

/** One column of a comparison: a scenario's answer, or why it has none. */
interface Column {
  key: string;
  name: string;
  impact: Impact | null;
  problem: string | null;
}

type Names = { twinName: (id: string) => string; orgName: (slug: string) => string };

/** What a scenario supposes, in plain words. */
function describe(scenario: Scenario, { twinName }: Names): string {
  const parts = scenario.disruptions.map((disruption) => {
    const how = disruption.capacity === 0 ? 'stops' : `loses ${formatShare(1 - disruption.capacity)} of its output`;
    const length = disruption.hours ? ` for ${formatHours(disruption.hours)}` : disruption.to ? ` until ${new Date(disruption.to).toLocaleString()}` : '';
    const start = disruption.from ? ` from ${new Date(disruption.from).toLocaleString()}` : '';
    return disruption.predicted ? `${twinName(disruption.twinId)} fails as predicted` : `${twinName(disruption.twinId)} ${how}${start}${length}`;
  });
  for (const alternate of scenario.alternates ?? []) {
    parts.push(
      `an alternate supplier for ${formatShare(alternate.share)} of ${alternate.part ?? 'all supplies'} at ${twinName(alternate.customerId)} (${formatHours(alternate.leadTimeHours)} away)`,
    );
  }
  for (const stock of scenario.extraStock ?? [])
    parts.push(`${formatNumber(stock.days)} more days of stock at ${twinName(stock.customerId)} from ${twinName(stock.supplierId)}`);
  for (const lead of scenario.leadTimes ?? [])
    parts.push(`${twinName(lead.supplierId)} → ${twinName(lead.customerId)} expedited to ${formatHours(lead.leadTimeHours)}`);
  return parts.join('; ');
}

/** Adds what would help a twin hit: an alternate supplier of a part, more stock of a supplier's delivery, a supplier's delivery expedited. */
function HelpFields({
  session,
  twinId,
  twinName,
  onAdd,
}: {
  session: Session;
  twinId: string;
  twinName: (id: string) => string;
  onAdd: (change: Modifications) => void;
}) {
  const [links, setLinks] = useState<SupplyLink[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [part, setPart] = useState('');
  const [share, setShare] = useState('50');
  const [altLead, setAltLead] = useState('48');
  const [supplier, setSupplier] = useState('');
  const [days, setDays] = useState('2');
  const [lead, setLead] = useState('');

  useEffect(() => {
    let wanted = true;
    setLinks(null);
    query<{ twin: { supply: SupplyLink[] | null } | null }>(session, SUPPLY, { id: twinId })
      .then(({ data, problems }) => {
        if (!wanted) return;
        const supply = data?.twin?.supply ?? [];
        setLinks(supply);
        setSupplier(supply[0]?.supplierId ?? '');
        setPart(supply.find((link) => link.part)?.part ?? '');
        setProblem(problems[0] ?? null);
      })
      .catch((error: Error) => wanted && setProblem(error.message));
    return () => {
      wanted = false;
    };
  }, [session, twinId]);

  const parts = [...new Set((links ?? []).map((link) => link.part).filter((name): name is string => name !== null))];
  const link = links?.find((candidate) => candidate.supplierId === supplier);
  const add = (make: () => Modifications) => {
    try {
      onAdd(make());
      setProblem(null);
    } catch (error) {
      setProblem((error as Error).message);
    }
  };
  const positive = (text: string, what: string, max = Infinity) => {
    const value = Number(text);
    if (text.trim() === '' || !(value > 0 && value <= max)) throw new Error(`${what} must be above 0${max < Infinity ? `, up to ${max}` : ''}.`);
    return value;
  };
  const hours = (text: string, what: string) => {
    const value = Number(text);
    if (text.trim() === '' || !(value >= 0)) throw new Error(`${what} must be 0 hours or more.`);
    return value;
  };

  if (problem && links === null)
    return (
      <p class="error" role="alert">
        {problem}
      </p>
    );
  if (links === null) return <p aria-live="polite">Reading what {twinName(twinId)} is supplied…</p>;
  return (
    <div class="help-fields">
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <fieldset>
        <legend>An alternate supplier</legend>
        <label>
          of
          <select data-testid="help-part" value={part} onChange={(event) => setPart(event.currentTarget.value)}>
            {parts.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
            <option value="">everything it is supplied</option>
          </select>
        </label>
        <label>
          taking (%)
          <input type="number" data-testid="help-share" min="1" max="100" value={share} onInput={(event) => setShare(event.currentTarget.value)} />
        </label>
        <label>
          delivering in (h)
          <input type="number" data-testid="help-alt-lead" min="0" value={altLead} onInput={(event) => setAltLead(event.currentTarget.value)} />
        </label>
        <button
          type="button"
          data-testid="help-add-alternate"
          onClick={() =>
            add(() => ({
              ...NO_MODIFICATIONS,
              alternates: [
                { customerId: twinId, part: part || null, share: positive(share, 'The share', 100) / 100, leadTimeHours: hours(altLead, 'Its lead time') },
              ],
            }))
          }
        >
          Add
        </button>
      </fieldset>
      {links.length === 0 ? (
        <p class="hint">What its suppliers deliver is not shared with you: only an alternate supplier can be supposed.</p>
      ) : (
        <fieldset>
          <legend>A supplier’s delivery</legend>
          <label>
            from
            <select data-testid="help-supplier" value={supplier} onChange={(event) => setSupplier(event.currentTarget.value)}>
              {links.map((candidate) => (
                <option key={candidate.supplierId} value={candidate.supplierId}>
                  {twinName(candidate.supplierId)}
                  {candidate.part ? ` (${candidate.part})` : ''}
                </option>
              ))}
            </select>
          </label>
          {link && (
            <span class="hint">
              now {formatHours(link.leadTimeHours)} away{link.bufferHours !== null ? `, ${formatHours(link.bufferHours)} in stock` : ''}
            </span>
          )}
          <label>
            more stock (days)
            <input type="number" data-testid="help-days" min="0" step="any" value={days} onInput={(event) => setDays(event.currentTarget.value)} />
          </label>
          <button
            type="button"
            data-testid="help-add-stock"
            onClick={() =>
              add(() => ({ ...NO_MODIFICATIONS, extraStock: [{ customerId: twinId, supplierId: supplier, days: positive(days, 'The extra stock') }] }))
            }
          >
            Add stock
          </button>
          <label>
            expedited to (h)
            <input type="number" data-testid="help-lead" min="0" step="any" value={lead} onInput={(event) => setLead(event.currentTarget.value)} />
          </label>
          <button
            type="button"
            data-testid="help-add-lead"
            onClick={() =>
              add(() => ({ ...NO_MODIFICATIONS, leadTimes: [{ customerId: twinId, supplierId: supplier, leadTimeHours: hours(lead, 'The lead time') }] }))
            }
          >
            Add expedited delivery
          </button>
        </fieldset>
      )}
    </div>
  );
}

/** Scenarios side by side: a column each, a row for each twin any of them hits, soonest first. */
function Comparison({ columns, names }: { columns: Column[]; names: Names }) {
  const rows = useMemo(() => {
    const soonest = new Map<string, number>();
    for (const column of columns)
      for (const hit of column.impact?.affected ?? []) soonest.set(hit.twinId, Math.min(hit.hoursToImpact, soonest.get(hit.twinId) ?? Infinity));
    return [...soonest].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([twinId]) => twinId);
  }, [columns]);
  return (
    <table class="impact-table comparison" data-testid="whatif-table">
      <thead>
        <tr>
          <th>Twin</th>
          {columns.map((column) => (
            <th key={column.key} data-testid="whatif-column" data-scenario={column.name}>
              {column.name}
            </th>
          ))}
        </tr>
        <tr>
          <th>Twins hit</th>
          {columns.map((column) => (
            <td key={column.key} data-testid="whatif-count" data-scenario={column.name}>
              {column.impact ? `${column.impact.affected.length}${column.impact.affected.length === AFFECTED_SHOWN ? '+' : ''}` : column.problem}
            </td>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((twinId) => (
          <tr key={twinId}>
            <th>{names.twinName(twinId)}</th>
            {columns.map((column) => {
              const hit = column.impact?.affected.find((candidate) => candidate.twinId === twinId);
              return (
                <td key={column.key} data-testid="whatif-cell" data-scenario={column.name} data-twin-id={twinId} data-hit-in={hit?.hoursToImpact}>
                  {hit
                    ? `hit in ${formatHours(hit.hoursToImpact)}, for ${formatHours(hit.durationHours)} at ${formatShare(hit.capacityLost)}; ${formatUnits(hit)} lost`
                    : 'not hit'}
                </td>
              );
            })}
          </tr>
        ))}
        <tr>
          <th>Where it stops</th>
          {columns.map((column) => (
            <td key={column.key}>
              {[
                ...(column.impact?.unknown.map((boundary) => boundaryText(boundary, names.orgName)) ?? []),
                ...(column.impact && column.problem ? [column.problem] : []),
              ].join(' · ') || '—'}
            </td>
          ))}
        </tr>
      </tbody>
    </table>
  );
}

/**
 * What-if: the disruption asked about with what would help (alternate suppliers, extra stock,
 * expedited deliveries), saved at the user's organization or only here, and scenarios compared
 * side by side with the disruption as it is. Nothing is changed on the twins.
 */
export function WhatIf({
  session,
  question,
  twinName,
  orgName,
}: {
  session: Session;
  question: { impact: Impact; disruption: Disruption; bounds: Bounds } | null;
  twinName: (id: string) => string;
  orgName: (slug: string) => string;
}) {
  const names = { twinName, orgName };
  const org = memberOf(session)?.org;
  const [helped, setHelped] = useState('');
  const [modifications, setModifications] = useState(NO_MODIFICATIONS);
  const [name, setName] = useState('');
  const [drafts, setDrafts] = useState<Candidate[]>([]);
  const [saved, setSaved] = useState<Saved[] | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [columns, setColumns] = useState<Column[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [reads, setReads] = useState(0);

  useEffect(() => {
    if (!org) return;
    let wanted = true;
    query<{ org: { scenarios: Saved[] } | null }>(session, `query Scenarios { org: ${fieldName(org)} { scenarios { id name definition updatedAt } } }`)
      .then(({ data, problems: found }) => {
        if (!wanted) return;
        setSaved(data?.org?.scenarios ?? []);
        if (found.length > 0) setProblems(found);
      })
      .catch((error: Error) => wanted && setProblems([error.message]));
    return () => {
      wanted = false;
    };
  }, [session, org, reads]);

  const hitTwins = (question?.impact.affected ?? []).filter((hit) => hit.tier > 0);
  const helping = helped && hitTwins.some((hit) => hit.twinId === helped) ? helped : (hitTwins[0]?.twinId ?? '');
  const scenario = (): Scenario => {
    const trimmed = name.trim();
    if (!trimmed) throw new Error('Name the scenario.');
    return { name: trimmed, disruptions: [question!.disruption], ...modifications };
  };
  const candidates: Candidate[] = [...drafts, ...(saved ?? []).map((one) => ({ key: one.id, id: one.id, name: one.name, scenario: one.definition }))];
  const toggle = (key: string) => setPicked((current) => (current.includes(key) ? current.filter((other) => other !== key) : [...current, key]));

  const keep = (save: boolean) => {
    let built: Scenario;
    try {
      built = scenario();
    } catch (error) {
      setProblems([(error as Error).message]);
      return;
    }
    if (!save) {
      const key = `draft:${drafts.length}`;
      setDrafts([...drafts, { key, name: built.name, scenario: built }]);
      setPicked([...picked, key]);
      setName('');
      setModifications(NO_MODIFICATIONS);
      return;
    }
    setBusy('Saving…');
    setProblems([]);
    query<{ org: { saveScenario: { id: string } } | null }>(
      session,
      `mutation SaveScenario($name: String!, $definition: JSON!) { org: ${fieldName(org!)} { saveScenario(name: $name, definition: $definition) { id } } }`,
      { name: built.name, definition: built },
    )
      .then(({ data, problems: found }) => {
        const id = data?.org?.saveScenario.id;
        if (!id) throw new Error(found.join(' ') || 'The scenario was not saved.');
        setPicked((current) => [...current, id]);
        setName('');
        setModifications(NO_MODIFICATIONS);
        setReads((count) => count + 1);
      })
      .catch((error: Error) => setProblems([error.message]))
      .finally(() => setBusy(null));
  };

  const compare = () => {
    const chosen = candidates.filter((candidate) => picked.includes(candidate.key));
    const bounds = question?.bounds ?? DEFAULT_BOUNDS;
    const asIs: Candidate[] = question ? [{ key: 'as-is', name: 'As is', scenario: { name: 'As is', disruptions: [question.disruption] } }] : [];
    setBusy('Computing…');
    setProblems([]);
    void Promise.all(
      [...asIs, ...chosen].map(async (candidate): Promise<Column> => {
        const variables = candidate.id ? { ids: [candidate.id] } : { scenarios: [candidate.scenario] };
        try {
          const { data, problems: found } = await query<{ whatIf: { impact: Impact }[] | null }>(session, WHAT_IF, { ...variables, ...bounds });
          const impact = data?.whatIf?.[0]?.impact ?? null;
          return { key: candidate.key, name: candidate.name, impact, problem: found.join(' ') || (impact ? null : 'The network gave no answer for it.') };
        } catch (error) {
          return { key: candidate.key, name: candidate.name, impact: null, problem: (error as Error).message };
        }
      }),
    ).then((answers) => {
      setColumns(answers);
      setBusy(null);
    });
  };

  const changes = describe({ name: '', disruptions: [], ...modifications }, names);
  return (
    <section class="whatif" data-testid="whatif" aria-busy={busy !== null}>
      <h2>What if…</h2>
      {question ? (
        hitTwins.length > 0 && (
          <form
            class="scenario"
            onSubmit={(event) => {
              event.preventDefault();
              keep(true);
            }}
          >
            <p>
              Suppose what would help with the disruption above:{' '}
              <label>
                at{' '}
                <select data-testid="help-twin" value={helping} onChange={(event) => setHelped(event.currentTarget.value)}>
                  {hitTwins.map((hit) => (
                    <option key={hit.twinId} value={hit.twinId}>
                      {twinName(hit.twinId)}
                    </option>
                  ))}
                </select>
              </label>
            </p>
            {helping && (
              <HelpFields
                key={helping}
                session={session}
                twinId={helping}
                twinName={twinName}
                onAdd={(change) =>
                  setModifications({
                    alternates: [...modifications.alternates, ...change.alternates],
                    extraStock: [...modifications.extraStock, ...change.extraStock],
                    leadTimes: [...modifications.leadTimes, ...change.leadTimes],
                  })
                }
              />
            )}
            <p data-testid="scenario-changes">
              {changes ? `Supposing ${changes}.` : 'Nothing supposed yet: the disruption as it is.'}{' '}
              {changes && (
                <button type="button" onClick={() => setModifications(NO_MODIFICATIONS)}>
                  Start again
                </button>
              )}
            </p>
            <label>
              Scenario name
              <input data-testid="scenario-name" maxLength={200} value={name} onInput={(event) => setName(event.currentTarget.value)} />
            </label>
            <div class="impact-actions">
              {org && (
                <button type="submit" data-testid="scenario-save" disabled={busy !== null}>
                  Save at {orgName(org)}
                </button>
              )}
              <button type="button" data-testid="scenario-keep" disabled={busy !== null} onClick={() => keep(false)}>
                Compare without saving
              </button>
            </div>
          </form>
        )
      ) : (
        <p class="hint">Ask who is hit first: scenarios suppose what would help with that disruption.</p>
      )}
      {problems.length > 0 && (
        <div class="error" role="alert" data-testid="whatif-error">
          {problems.map((problem) => (
            <p key={problem}>{problem}</p>
          ))}
        </div>
      )}
      <h3>Scenarios</h3>
      {saved === null && org && <p aria-live="polite">Reading {orgName(org)}’s saved scenarios…</p>}
      {candidates.length === 0 ? (
        <p>No scenarios yet.</p>
      ) : (
        <ul class="scenarios" data-testid="scenarios">
          {candidates.map((candidate) => (
            <li key={candidate.key} data-scenario={candidate.name}>
              <label>
                <input
                  type="checkbox"
                  checked={picked.includes(candidate.key)}
                  disabled={!picked.includes(candidate.key) && picked.length >= MAX_COMPARED}
                  onChange={() => toggle(candidate.key)}
                />{' '}
                <strong>{candidate.name}</strong> {candidate.id ? `(saved at ${orgName(org!)})` : '(not saved)'}: {describe(candidate.scenario, names)}
              </label>
            </li>
          ))}
        </ul>
      )}
      <div class="impact-actions">
        <button type="button" data-testid="whatif-run" disabled={busy !== null || (picked.length === 0 && !question)} onClick={compare}>
          {busy ?? `Compare ${question ? 'with the disruption as it is' : 'side by side'}`}
        </button>
        <span class="hint">Up to {MAX_COMPARED} scenarios at once.</span>
      </div>
      {columns && <Comparison columns={columns} names={names} />}
    </section>
  );
}
