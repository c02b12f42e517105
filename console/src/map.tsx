import cytoscape, { type Core, type EdgeSingular, type ElementDefinition } from 'cytoscape';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useProblems, type FeedEnd } from './api.ts';
import { LIST_LIMIT, loadTwins, watchTwins, type MapChange, type MapTwin, type Status } from './network.ts';
import { navigate, twinPath } from './router.ts';
import { memberOf, type Session } from './session.ts';

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
const byName = new Intl.Collator(undefined, { numeric: true }).compare;

function shown(twin: MapTwin, filters: Filters): boolean {
  const tag = filters.tag.trim().toLowerCase();
  return (
    (!filters.org || twin.org.slug === filters.org) &&
    (!filters.kind || twin.kind === filters.kind) &&
    (!filters.status || twin.status === filters.status) &&
    (!tag || twin.tags.some((candidate) => candidate.toLowerCase().includes(tag)))
  );
}

/** An organization's block: its id starts with `#`, which no twin id does (a member could name a twin `org:acme`). */
const blockId = (slug: string) => `#org/${slug}`;
const orgNode = (org: MapTwin['org']): ElementDefinition => ({ group: 'nodes', data: { id: blockId(org.slug), label: org.name } });
const twinNode = (twin: MapTwin, position: { x: number; y: number }, alarm: boolean): ElementDefinition => ({
  group: 'nodes',
  data: { id: twin.id, parent: blockId(twin.org.slug), label: twin.name, status: twin.status, alarm },
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
    members.forEach((twin, index) => elements.push(twinNode(twin, { x: left + (index % columns) * CELL, y: Math.floor(index / columns) * CELL }, false)));
    left += columns * CELL + GAP;
  }
  for (const twin of twins.values()) elements.push(...supplyEdges(twin, (id) => twins.has(id)));
  return elements;
}

/**
 * Labels below 8 px on screen are not drawn (a network zoomed out to fit shows thousands of dots,
 * not unreadable text); a ring marks a twin with an active alarm.
 */
const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: { label: 'data(label)', 'font-size': 10, 'min-zoomed-font-size': 8, 'background-color': '#9aa5b1', width: 22, height: 22 },
  },
  { selector: 'node[status="OK"]', style: { 'background-color': '#2e8b57' } },
  { selector: 'node[status="ALERT"]', style: { 'background-color': '#d64545' } },
  { selector: 'node[?alarm]', style: { 'border-width': 4, 'border-color': '#f0a202' } },
  {
    selector: ':parent',
    style: { 'background-color': '#eef2f7', 'border-color': '#7b8794', 'text-valign': 'top', 'font-size': 16, 'font-weight': 'bold', padding: '20px' },
  },
  {
    selector: 'edge',
    style: {
      width: 1.5,
      'line-color': '#a0aec0',
      'target-arrow-color': '#a0aec0',
      'target-arrow-shape': 'triangle',
      // A curve whose middle stands a quarter of its length off the straight line: a link between
      // blocks or across a row passes around the twins between its two, never through one.
      'curve-style': 'unbundled-bezier',
      'control-point-weights': 0.5,
      'control-point-distances': (edge: EdgeSingular) => {
        const [a, b] = [edge.source().position(), edge.target().position()];
        return Math.hypot(b.x - a.x, b.y - a.y) / 4;
      },
    },
  },
  { selector: '.hidden', style: { display: 'none' } },
];

/**
 * Alarms: a twin in alert (its status ALERT, in the twins read and in STATE/ALERT events) is red;
 * a ring marks the twins with an alarm active, learned from ALARM events while the map is open.
 * The alarms of thousands of twins are not asked for when the map loads (a question per twin, and
 * only for what the session may analyse): the status carries what an alarm means for the map.
 */
export function MapPage({ session }: { session: Session }) {
  const container = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const twins = useRef(new Map<string, MapTwin>());
  /** Each supplier's customers by id: a supplier changed finds its edges without a pass over every twin. */
  const customers = useRef(new Map<string, Set<string>>());
  /** The active alarms of each twin that has some, by id. */
  const alarms = useRef(new Map<string, Set<string>>());
  /** Changes of anything shown, and of which twins there are (organizations, kinds). */
  const [version, setVersion] = useState(0);
  const [members, setMembers] = useState(0);
  const [loaded, setLoaded] = useState<number | null>(0);
  const { problems, report } = useProblems();
  const [filters, setFilters] = useState(NO_FILTERS);
  /** How many times the twins were read: once, and again when the live feed ended. */
  const [reads, setReads] = useState(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  // Live changes wait here and are applied together once a frame (a burst of states redraws once);
  // while the twins are read, until they are.
  const queue = useRef<MapChange[]>([]);
  const reading = useRef(true);
  const frame = useRef(0);
  const schedule = () => {
    frame.current ||= requestAnimationFrame(() => {
      frame.current = 0;
      if (reading.current || !cy.current) return;
      const changes = queue.current.splice(0);
      cy.current.batch(() => changes.forEach(apply));
      setVersion((value) => value + 1);
      if (changes.some((change) => change.type === 'upsert' || change.type === 'delete')) setMembers((value) => value + 1);
    });
  };

  const link = (twin: MapTwin) => {
    for (const supplier of twin.suppliers) {
      const known = customers.current.get(supplier);
      if (known) known.add(twin.id);
      else customers.current.set(supplier, new Set([twin.id]));
    }
  };
  const unlink = (twin: MapTwin) => twin.suppliers.forEach((supplier) => customers.current.get(supplier)?.delete(twin.id));
  const show = (twin: MapTwin) => cy.current!.getElementById(twin.id).toggleClass('hidden', !shown(twin, filtersRef.current));

  const apply = (change: MapChange) => {
    const graph = cy.current!;
    if (change.type === 'delete') {
      const twin = twins.current.get(change.id);
      if (twin) unlink(twin);
      twins.current.delete(change.id);
      alarms.current.delete(change.id);
      graph.getElementById(change.id).remove();
    } else if (change.type === 'status') {
      const twin = twins.current.get(change.id);
      if (!twin) return;
      twin.status = change.status;
      graph.getElementById(twin.id).data('status', change.status);
      show(twin);
    } else if (change.type === 'alarm') {
      const active = alarms.current.get(change.id) ?? new Set<string>();
      if (change.active) active.add(change.alarmId);
      else active.delete(change.alarmId);
      if (active.size > 0) alarms.current.set(change.id, active);
      else alarms.current.delete(change.id);
      graph.getElementById(change.id).data('alarm', active.size > 0);
    } else {
      const { twin } = change;
      const previous = twins.current.get(twin.id);
      if (previous) unlink(previous);
      twins.current.set(twin.id, twin);
      link(twin);
      const node = graph.getElementById(twin.id);
      if (node.nonempty() && node.data('parent') === blockId(twin.org.slug)) node.data({ label: twin.name, status: twin.status });
      else {
        node.remove();
        const block = graph.getElementById(blockId(twin.org.slug));
        if (block.empty()) graph.add(orgNode(twin.org));
        const box = block.nonempty() ? block.boundingBox({}) : graph.elements().boundingBox({});
        const position = { x: block.nonempty() ? box.x1 + CELL / 2 : box.x2 + GAP, y: block.nonempty() ? box.y2 : 0 };
        graph.add(twinNode(twin, position, alarms.current.has(twin.id)));
      }
      graph.getElementById(twin.id).connectedEdges().remove();
      const onMap = (id: string) => graph.getElementById(id).nonempty();
      graph.add(supplyEdges(twin, onMap));
      for (const customer of customers.current.get(twin.id) ?? [])
        if (onMap(customer)) graph.add(supplyEdges({ ...twins.current.get(customer)!, suppliers: [twin.id] }, () => true));
      show(twin);
    }
  };

  /**
   * The network ended the live feed: what the user may see changed. A grant revoked or expired
   * takes its issuer's twins off the map at once (unless they are the user's own organization's);
   * the twins are then read again, which brings back any that another grant still shows.
   */
  const ended = ({ grantFrom }: FeedEnd) => {
    if (grantFrom && grantFrom !== memberOf(session)?.org && cy.current) {
      const gone = [...twins.current.values()].filter((twin) => twin.org.slug === grantFrom);
      cy.current.batch(() => {
        gone.forEach((twin) => apply({ type: 'delete', id: twin.id }));
        cy.current!.getElementById(blockId(grantFrom)).remove();
      });
      setVersion((value) => value + 1);
      setMembers((value) => value + 1);
    }
    setReads((count) => count + 1);
  };

  // Changes are followed from before the twins are read, so that none falls between; after the
  // network ended the feed, from before they are read again.
  useEffect(() => {
    const stop = watchTwins(
      session,
      (change) => {
        queue.current.push(change);
        schedule();
      },
      report,
      ended,
    );
    return () => {
      stop();
      cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [session, reads]);

  useEffect(() => {
    let wanted = true;
    reading.current = true;
    // What the last feed brought before it ended is in what is read now.
    queue.current = [];
    setLoaded(0);
    loadTwins(session, () => wanted, setLoaded)
      .then((result) => {
        if (!result) return;
        const { twins: list, problems: found } = result;
        twins.current = new Map(list.map((twin) => [twin.id, twin]));
        customers.current = new Map();
        list.forEach(link);
        cy.current?.destroy();
        cy.current = cytoscape({
          container: container.current,
          elements: elementsOf(twins.current),
          style: STYLE,
          layout: { name: 'preset', fit: true, padding: 30 },
          minZoom: 0.05,
          maxZoom: 3,
          // Twins stay where they were placed: a link's curve is computed from where its two are.
          autoungrabify: true,
          // Large networks stay fluid: while panning and zooming, a still image of the graph moves, edges hidden.
          textureOnViewport: true,
          hideEdgesOnViewport: true,
          pixelRatio: 1,
        });
        cy.current.on('tap', 'node:childless', (event) => navigate(twinPath(event.target.id() as string)));
        cy.current.batch(() => {
          for (const [id, active] of alarms.current) cy.current!.getElementById(id).data('alarm', active.size > 0);
          for (const twin of list) if (!shown(twin, filtersRef.current)) show(twin);
        });
        reading.current = false;
        found.forEach(report);
        setLoaded(null);
        setMembers((value) => value + 1);
        schedule();
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
      for (const twin of twins.current.values()) show(twin);
    });
  }, [filters]);

  const sorted = useMemo(() => [...twins.current.values()].sort((a, b) => byName(a.org.slug, b.org.slug) || byName(a.name, b.name)), [members]);
  const orgs = useMemo(() => [...new Map(sorted.map((twin) => [twin.org.slug, twin.org])).values()], [sorted]);
  const kinds = useMemo(() => [...new Set(sorted.map((twin) => twin.kind).filter(Boolean))].sort(byName), [sorted]);
  const visible = useMemo(() => sorted.filter((twin) => shown(twin, filters)), [sorted, filters, version]);
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
        <h2 data-testid="map-count">
          Twins shown ({visible.length} of {sorted.length})
        </h2>
        {visible.length > LIST_LIMIT && (
          <p class="hint" data-testid="map-list-limit">
            Listing the first {LIST_LIMIT}: choose an organization, kind, status or tag to list the others.
          </p>
        )}
        <ul class="twin-list" data-testid="map-twins">
          {visible.slice(0, LIST_LIMIT).map((twin) => (
            <li key={twin.id} data-twin-id={twin.id} data-status={twin.status}>
              <span class={`status status-${twin.status}`}>{twin.status}</span> <a href={twinPath(twin.id)}>{twin.name}</a> <small>{twin.org.name}</small>
              {alarms.current.has(twin.id) && (
                <span class="alarm-badge" data-testid="twin-alarm">
                  alarm
                </span>
              )}
            </li>
          ))}
        </ul>
      </section>
    </main>
  );
}
