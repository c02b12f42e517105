import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import { useEffect, useRef, useState } from 'preact/hooks';
import { boundaryText, formatHours, urgencyOf, type Impact } from './impact-model.ts';
import { navigate, twinPath } from './router.ts';

/** Room between tiers, and between the twins of a tier. */
const COLUMN = 260;
const ROW = 90;

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'text-wrap': 'wrap',
      'text-valign': 'bottom',
      'text-margin-y': 4,
      'font-size': 11,
      width: 26,
      height: 26,
      'background-color': '#9aa5b1',
    },
  },
  { selector: 'node[urgency="source"]', style: { 'background-color': '#323f4b', shape: 'diamond' } },
  { selector: 'node[urgency="day"]', style: { 'background-color': '#d64545' } },
  { selector: 'node[urgency="days"]', style: { 'background-color': '#e8833a' } },
  { selector: 'node[urgency="later"]', style: { 'background-color': '#f0b429' } },
  {
    selector: 'node.boundary',
    style: { shape: 'round-rectangle', 'background-color': '#fff', 'border-width': 2, 'border-style': 'dashed', 'border-color': '#7b8794' },
  },
  {
    selector: 'edge',
    style: { width: 1.5, 'line-color': '#a0aec0', 'target-arrow-color': '#a0aec0', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier' },
  },
  { selector: 'edge.via', style: { width: 3, 'line-color': '#52606d', 'target-arrow-color': '#52606d' } },
  { selector: 'edge.stops', style: { 'line-style': 'dashed' } },
];

/** The twins hit, a column per tier (the disrupted twin on the left), soonest hit on top; where the answer stops, past the twins it stops at. */
function elementsOf(impact: Impact, suppliersOf: (id: string) => string[], orgName: (slug: string) => string): ElementDefinition[] {
  const hit = new Set(impact.affected.map((twin) => twin.twinId));
  const tierOf = new Map(impact.affected.map((twin) => [twin.twinId, twin.tier]));
  const rows = new Map<number, number>();
  const place = (tier: number) => {
    const row = rows.get(tier) ?? 0;
    rows.set(tier, row + 1);
    return { x: tier * COLUMN, y: row * ROW };
  };
  const elements: ElementDefinition[] = [];
  for (const twin of impact.affected) {
    const name = twin.twin?.name ?? twin.twinId;
    const when =
      twin.tier === 0
        ? `disrupted for ${formatHours(twin.durationHours)}`
        : `hit in ${formatHours(twin.hoursToImpact)}, for ${formatHours(twin.durationHours)}`;
    elements.push({ group: 'nodes', data: { id: twin.twinId, label: `${name}\n${when}`, urgency: urgencyOf(twin) }, position: place(twin.tier) });
    const suppliers = new Set([...suppliersOf(twin.twinId), twin.via].filter((id) => id !== twin.twinId && hit.has(id)));
    for (const supplier of suppliers) {
      elements.push({
        group: 'edges',
        data: { id: `${supplier}->${twin.twinId}`, source: supplier, target: twin.twinId },
        classes: supplier === twin.via ? 'via' : '',
      });
    }
  }
  impact.unknown.forEach((boundary, index) => {
    // `#` starts no twin id: a boundary's node never takes a twin's.
    const id = `#unknown/${index}`;
    const from = boundary.twinIds.filter((twinId) => hit.has(twinId));
    const tier = Math.max(-1, ...from.map((twinId) => tierOf.get(twinId)!)) + 1;
    const label = boundaryText(boundary, orgName).split(' — ')[0]!;
    elements.push({ group: 'nodes', data: { id, label }, classes: 'boundary', position: place(tier) });
    for (const twinId of from) elements.push({ group: 'edges', data: { id: `${twinId}->${id}`, source: twinId, target: id }, classes: 'stops' });
  });
  return elements;
}

/** A node of the graph as the page lists it for assistive technology (and tests). */
interface ShownNode {
  id: string;
  label: string;
  urgency: string | undefined;
}

/** Who is hit and when, as a graph; its nodes also listed for those who do not see it. */
export function ImpactGraph({ impact, suppliersOf, orgName }: { impact: Impact; suppliersOf: (id: string) => string[]; orgName: (slug: string) => string }) {
  const container = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);
  const [nodes, setNodes] = useState<ShownNode[]>([]);

  useEffect(() => {
    cy.current?.destroy();
    const graph = cytoscape({
      container: container.current,
      elements: elementsOf(impact, suppliersOf, orgName),
      style: STYLE,
      layout: { name: 'preset', fit: true, padding: 40 },
      minZoom: 0.1,
      maxZoom: 2,
    });
    graph.on('tap', 'node', (event) => {
      const id = event.target.id() as string;
      if (!id.startsWith('#')) navigate(twinPath(id));
    });
    cy.current = graph;
    setNodes(graph.nodes().map((node) => ({ id: node.id(), label: node.data('label') as string, urgency: node.data('urgency') as string | undefined })));
  }, [impact]);

  useEffect(
    () => () => {
      cy.current?.destroy();
      cy.current = null;
    },
    [],
  );

  return (
    <>
      <div class="impact-graph" data-testid="impact-graph" ref={container} aria-hidden="true" />
      <ul class="visually-hidden" data-testid="impact-graph-nodes">
        {nodes.map((node) => (
          <li key={node.id} data-node-id={node.id} data-urgency={node.urgency}>
            {node.label}
          </li>
        ))}
      </ul>
    </>
  );
}
