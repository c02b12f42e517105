import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { loadTwins, watchTwins, type MapChange, type MapTwin, type Status } from './network.ts';
import { navigate, twinPath } from './router.ts';
import type { Session } from './session.ts';

interface Filters {
  org: string;
  kind: string;
  status: string;
  tag: string;
}

const NO_FILTERS: Filters = { org: '', kind: '', status: '', tag: '' };
const STATUSES: Status[] = ['OK', 'ALERT', 'UNKNOWN'];
/** Room per twin in an organization's block, and between blocks. */
const CELL = 70;
const GAP = 160;

function shown(twin: MapTwin, filters: Filters): boolean {
  const tag = filters.tag.trim().toLowerCase();
  return (
    (!filters.org || twin.org.slug === filters.org) &&
    (!filters.kind || twin.kind === filters.kind) &&
    (!filters.status || twin.status === filters.status) &&
    (!tag || twin.tags.some((candidate) => candidate.toLowerCase().includes(tag)))
  );
}

const orgNode = (org: MapTwin['org']): ElementDefinition => ({ group: 'nodes', data: { id: `org:${org.slug}`, label: org.name } });
const twinNode = (twin: MapTwin, position: { x: number; y: number }): ElementDefinition => ({
  group: 'nodes',
  data: { id: twin.id, parent: `org:${twin.org.slug}`, label: twin.name, status: twin.status },
  position,
});
const supplyEdges = (twin: MapTwin, known: (id: string) => boolean): ElementDefinition[] =>
  twin.suppliers.filter(known).map((supplier) => ({ group: 'edges', data: { id: `${supplier}->${twin.id}`, source: supplier, target: twin.id } }));

/** Each organization a block of its twins in a grid, blocks side by side: placed once, never laid out again. */
function elementsOf(twins: Map<string, MapTwin>): ElementDefinition[] {
  const byOrg = new Map<string, MapTwin[]>();
  for (const twin of twins.values()) {
    const members = byOrg.get(twin.org.slug);
    if (members) members.push(twin);
    else byOrg.set(twin.org.slug, [twin]);
  }
  const elements: ElementDefinition[] = [];
  let left = 0;
  for (const slug of [...byOrg.keys()].sort()) {
    const members = byOrg.get(slug)!.sort((a, b) => a.id.localeCompare(b.id));
    const columns = Math.ceil(Math.sqrt(members.length));
    elements.push(orgNode(members[0]!.org));
    members.forEach((twin, index) => elements.push(twinNode(twin, { x: left + (index % columns) * CELL, y: Math.floor(index / columns) * CELL })));
    left += columns * CELL + GAP;
  }
  for (const twin of twins.values()) elements.push(...supplyEdges(twin, (id) => twins.has(id)));
  return elements;
}

const STYLE: cytoscape.StylesheetJson = [
  { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'background-color': '#9aa5b1', width: 22, height: 22 } },
  { selector: 'node[status="OK"]', style: { 'background-color': '#2e8b57' } },
  { selector: 'node[status="ALERT"]', style: { 'background-color': '#d64545' } },
  {
    selector: ':parent',
    style: { 'background-color': '#eef2f7', 'border-color': '#7b8794', 'text-valign': 'top', 'font-size': 16, 'font-weight': 'bold', padding: '20px' },
  },
  {
    selector: 'edge',
    style: { width: 1.5, 'line-color': '#a0aec0', 'target-arrow-color': '#a0aec0', 'target-arrow-shape': 'triangle', 'curve-style': 'straight' },
  },
  { selector: '.hidden', style: { display: 'none' } },
];

export function MapPage({ session }: { session: Session }) {
  const container = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const twins = useRef(new Map<string, MapTwin>());
  const [version, setVersion] = useState(0);
  const [loaded, setLoaded] = useState<number | null>(0);
  const [problems, setProblems] = useState<string[]>([]);
  const [filters, setFilters] = useState(NO_FILTERS);
  /** How many times the twins were read: once, and again when the live feed ended. */
  const [reads, setReads] = useState(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  const report = (message: string) => setProblems((current) => (current.includes(message) ? current : [...current, message]));
  // Changes that came while the twins are read, applied once they are.
  const pending = useRef<MapChange[] | null>([]);
  const frame = useRef(0);
  const redraw = () => {
    frame.current ||= requestAnimationFrame(() => {
      frame.current = 0;
      setVersion((value) => value + 1);
    });
  };

  const apply = (change: MapChange) => {
    const graph = cy.current!;
    if (change.type === 'delete') {
      twins.current.delete(change.id);
      graph.getElementById(change.id).remove();
    } else if (change.type === 'status') {
      const twin = twins.current.get(change.id);
      if (!twin) return;
      twin.status = change.status;
      graph.getElementById(twin.id).data('status', change.status).toggleClass('hidden', !shown(twin, filtersRef.current));
    } else {
      const { twin } = change;
      twins.current.set(twin.id, twin);
      const node = graph.getElementById(twin.id);
      if (node.nonempty() && node.data('parent') === `org:${twin.org.slug}`) node.data({ label: twin.name, status: twin.status });
      else {
        node.remove();
        const block = graph.getElementById(`org:${twin.org.slug}`);
        if (block.empty()) graph.add(orgNode(twin.org));
        const box = block.nonempty() ? block.boundingBox({}) : graph.elements().boundingBox({});
        graph.add(twinNode(twin, { x: block.nonempty() ? box.x1 + CELL / 2 : box.x2 + GAP, y: block.nonempty() ? box.y2 : 0 }));
      }
      graph.getElementById(twin.id).connectedEdges().remove();
      graph.add(supplyEdges(twin, (id) => graph.getElementById(id).nonempty()));
      for (const customer of twins.current.values()) {
        if (customer.suppliers.includes(twin.id)) graph.add(supplyEdges({ ...customer, suppliers: [twin.id] }, () => true));
      }
      graph.getElementById(twin.id).toggleClass('hidden', !shown(twin, filtersRef.current));
    }
    redraw();
  };

  // Changes are followed from before the twins are read, so that none falls between. When the
  // network ends the feed (a grant revoked, a member gone), what the user may see has changed:
  // the twins are read again.
  useEffect(() => {
    const stop = watchTwins(
      session,
      (change) => (pending.current ? pending.current.push(change) : apply(change)),
      report,
      () => setReads((count) => count + 1),
    );
    return () => {
      stop();
      cancelAnimationFrame(frame.current);
    };
  }, [session]);

  useEffect(() => {
    let wanted = true;
    pending.current ??= [];
    setLoaded(0);
    loadTwins(session, () => wanted, setLoaded)
      .then((result) => {
        if (!result) return;
        const { twins: list, problems: found } = result;
        twins.current = new Map(list.map((twin) => [twin.id, twin]));
        cy.current?.destroy();
        cy.current = cytoscape({
          container: container.current,
          elements: elementsOf(twins.current),
          style: STYLE,
          layout: { name: 'preset', fit: true, padding: 30 },
          minZoom: 0.05,
          maxZoom: 3,
          textureOnViewport: true,
          hideEdgesOnViewport: true,
        });
        cy.current.on('tap', 'node:childless', (event) => navigate(twinPath(event.target.id() as string)));
        cy.current.batch(() => pending.current!.splice(0).forEach(apply));
        pending.current = null;
        found.forEach(report);
        setLoaded(null);
        redraw();
      })
      .catch((error: Error) => {
        if (wanted) report(error.message);
      });
    return () => {
      wanted = false;
    };
  }, [session, reads]);

  useEffect(
    () => () => {
      cy.current?.destroy();
      cy.current = null;
    },
    [],
  );

  useEffect(() => {
    cy.current?.batch(() => {
      for (const twin of twins.current.values()) cy.current!.getElementById(twin.id).toggleClass('hidden', !shown(twin, filters));
    });
  }, [filters]);

  const all = useMemo(() => [...twins.current.values()], [version]);
  const orgs = useMemo(() => [...new Map(all.map((twin) => [twin.org.slug, twin.org])).values()].sort((a, b) => a.slug.localeCompare(b.slug)), [all]);
  const kinds = useMemo(() => [...new Set(all.map((twin) => twin.kind).filter(Boolean))].sort(), [all]);
  const visible = useMemo(
    () => all.filter((twin) => shown(twin, filters)).sort((a, b) => a.org.slug.localeCompare(b.org.slug) || a.name.localeCompare(b.name)),
    [all, filters],
  );
  const set = (key: keyof Filters) => (event: Event) => setFilters({ ...filters, [key]: (event.currentTarget as HTMLInputElement).value });

  return (
    <main class="page map-page">
      <h1>Supply network</h1>
      {problems.length > 0 && (
        <div class="error" role="alert" data-testid="error">
          {problems.map((problem) => (
            <p key={problem}>{problem}</p>
          ))}
        </div>
      )}
      <div class="filters">
        <label>
          Organization
          <select data-testid="filter-org" value={filters.org} onChange={set('org')}>
            <option value="">All</option>
            {orgs.map((org) => (
              <option key={org.slug} value={org.slug}>
                {org.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select data-testid="filter-kind" value={filters.kind} onChange={set('kind')}>
            <option value="">All</option>
            {kinds.map((kind) => (
              <option key={kind} value={kind}>
                {kind}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select data-testid="filter-status" value={filters.status} onChange={set('status')}>
            <option value="">All</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <input data-testid="filter-tag" type="search" value={filters.tag} onInput={set('tag')} />
        </label>
      </div>
      {loaded !== null && <p aria-live="polite">Loading twins… {loaded} so far</p>}
      <div class="map" data-testid="map" ref={container} aria-hidden="true" />
      <section>
        <h2>
          Twins shown ({visible.length} of {all.length})
        </h2>
        <ul class="twin-list" data-testid="map-twins">
          {visible.map((twin) => (
            <li key={twin.id} data-twin-id={twin.id} data-status={twin.status}>
              <span class={`status status-${twin.status}`}>{twin.status}</span> <a href={twinPath(twin.id)}>{twin.name}</a> <small>{twin.org.name}</small>
            </li>
          ))}
        </ul>
      </section>
    </main>
  );
}
