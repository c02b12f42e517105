import { DirectedGraph } from 'graphology';
import { topologicalSort } from 'graphology-dag';
import { coarsen, DAY_MS, HOUR_MS, lostDays, maxOf, minus, shift, weightedSum } from './loss.ts';
import type { AffectedTwin, Disruption, Loss, Modifications, OutputSources, SupplierLoss } from './types.ts';

export interface SupplyLinkData {
  customerId: string;
  supplierId: string;
  part: string | null;
  share: number;
  leadTimeHours: number;
  stock: number | null;
  safetyStock: number | null;
  consumptionPerDay: number | null;
  daysOfSupply: number | null;
}

/** One of the organization's twins (global id) with the links on which it is the customer. */
export interface TwinSupply {
  twinId: string;
  capacityPerDay: number | null;
  links: SupplyLinkData[];
}

export interface PropagationInput {
  now: number;
  until: number;
  twins: TwinSupply[];
  /** Resolved disruptions of these twins (the origin). */
  disruptions: Disruption[];
  /** Lost output of suppliers (outside this organization). */
  inputs: SupplierLoss[];
  modifications: Modifications;
  /** Whether the caller may see a twin; a twin it may not see is listed in `hiddenIds` when hit, not shown, not followed. */
  visible: (twinId: string) => boolean;
}

export interface PropagationResult {
  affected: AffectedTwin[];
  outputs: SupplierLoss[];
  /** For each output, the inputs (suppliers) and disrupted twins whose loss reaches it. */
  dependsOn: OutputSources[];
  /** Twins hit that the caller may not see: counted, neither shown nor followed. */
  hiddenIds: string[];
  cycles: string[];
}

/** A buffer of a part at a customer: `amount` drawn at shortfall × `perDay` per day, at risk below `safety`. */
interface Buffer {
  amount: number;
  safety: number | null;
  perDay: number;
}

/** The links of one customer for one part (or one supplier's own output, when the part is null). */
interface PartGroup {
  links: SupplyLinkData[];
  buffer: Buffer | null;
  /** Alternate suppliers: the share each takes of the need, from when it delivers. */
  relief: { loss: Loss; weight: number }[];
}

/** A twin's (or an outside supplier's) lost output as computed so far, and the inputs and disrupted twins it comes from. */
interface Hit {
  loss: Loss;
  tier: number;
  on: ReadonlySet<string>;
}

/** Not a twin id: the root from which every origin is reached. */
const ROOT = '\u0000origins';

/** Stock in units with consumption per day, else days of supply (consumed one a day), else none. */
function bufferOf(link: SupplyLinkData): Buffer | null {
  if (link.stock !== null && link.consumptionPerDay !== null) return { amount: link.stock, safety: link.safetyStock, perDay: link.consumptionPerDay };
  if (link.daysOfSupply !== null) return { amount: link.daysOfSupply, safety: link.safetyStock, perDay: 1 };
  return null;
}

const daysOf = (buffer: Buffer) => (buffer.perDay > 0 ? buffer.amount / buffer.perDay : Infinity);

/** A group's key: its part, or its supplier when the part is null. */
const groupKey = (link: { supplierId: string; part: string | null }) => (link.part === null ? `supplier:${link.supplierId}` : `part:${link.part}`);

/**
 * A shortfall drawn from a buffer: nothing is lost while the buffer lasts (it is drawn at
 * shortfall × consumption per day and not refilled), then the shortfall is. `atRiskFrom`: when
 * what is left falls below safety stock.
 */
function draw(shortfall: Loss, buffer: Buffer | null): { loss: Loss; atRiskFrom: number | null } {
  if (buffer === null || buffer.amount <= 0) return { loss: shortfall, atRiskFrom: null };
  if (buffer.perDay <= 0) return { loss: [], atRiskFrom: null };
  const threshold = buffer.safety === null ? null : buffer.amount - buffer.safety;
  const loss: Loss = [];
  let atRiskFrom: number | null = null;
  let drawn = 0;
  for (const segment of shortfall) {
    if (drawn >= buffer.amount) {
      loss.push(segment);
      continue;
    }
    const rate = (segment.loss * buffer.perDay) / DAY_MS;
    const need = (segment.to - segment.from) * rate;
    if (threshold !== null && atRiskFrom === null && drawn + need > threshold) atRiskFrom = Math.round(segment.from + Math.max(0, threshold - drawn) / rate);
    if (drawn + need <= buffer.amount) {
      drawn += need;
      continue;
    }
    const empty = Math.round(segment.from + (buffer.amount - drawn) / rate);
    drawn = buffer.amount;
    if (empty < segment.to) loss.push({ ...segment, from: empty });
  }
  return { loss, atRiskFrom };
}

/**
 * The part groups of each twin, with the scenario applied: expedited lead times, extra stock
 * (days of the group's consumption, or days of supply when it declares no buffer), alternates
 * (a null part relieves each of the customer's suppliers' own outputs).
 */
function partGroups(twins: TwinSupply[], { alternates, extraStock, leadTimes }: Modifications, now: number, until: number) {
  const pair = (customerId: string, supplierId: string) => `${customerId}\n${supplierId}`;
  const expedited = new Map(leadTimes.map((entry) => [pair(entry.customerId, entry.supplierId), entry.leadTimeHours]));
  const groups = new Map<string, Map<string, PartGroup>>();
  const groupOfLink = new Map<string, PartGroup>();
  for (const twin of twins) {
    const byPart = new Map<string, PartGroup>();
    for (const declared of twin.links) {
      const key = pair(twin.twinId, declared.supplierId);
      const link = { ...declared, customerId: twin.twinId, leadTimeHours: expedited.get(key) ?? declared.leadTimeHours };
      const group = byPart.get(groupKey(link)) ?? { links: [], buffer: null, relief: [] };
      const buffer = bufferOf(link);
      if (buffer && (group.buffer === null || daysOf(buffer) > daysOf(group.buffer))) group.buffer = buffer;
      group.links.push(link);
      byPart.set(groupKey(link), group);
      groupOfLink.set(key, group);
    }
    groups.set(twin.twinId, byPart);
  }
  for (const { customerId, supplierId, days } of extraStock) {
    const group = groupOfLink.get(pair(customerId, supplierId));
    if (group)
      group.buffer = group.buffer ? { ...group.buffer, amount: group.buffer.amount + days * group.buffer.perDay } : { amount: days, safety: null, perDay: 1 };
  }
  for (const { customerId, part, share, leadTimeHours } of alternates) {
    const relief = { loss: [{ from: now + Math.round(leadTimeHours * HOUR_MS), to: until, loss: 1 }], weight: share };
    for (const [key, group] of groups.get(customerId) ?? [])
      if (part === null ? key.startsWith('supplier:') : key === groupKey({ supplierId: '', part })) group.relief.push(relief);
  }
  return groups;
}

/**
 * Impact within one organization, over its own twins (the model of lib/impact/types.ts):
 * - A disrupted twin loses 1 − capacity over [from, to); it is tier 0 and its own `via`.
 * - Each customer's links are grouped by part (a null part: the supplier's own output); a group's
 *   shares add up and it has one buffer, the largest declared on its links (in days of cover).
 * - A group's shortfall at t is min(1, Σ share × the supplier's loss at t − lead time), less the
 *   shares of alternates delivering by then; it is drawn from the buffer until it is empty, then
 *   lost. A twin loses the largest of its groups' losses and its own disruption's.
 * - Only the groups it loses output for count for a twin (a buffer absorbing a shortfall stops it
 *   there): its tier is one more than the fewest of their hit suppliers' (an outside supplier's as
 *   its input says), and it depends on what their suppliers depend on (an input: its supplier; a
 *   disrupted twin: itself).
 * - A twin hit: `from` and `to` are the start of its first loss segment and the end of its last;
 *   `unitsLost` its capacity per day × ∫ loss dt in days; `atRiskFrom` the first time one of its
 *   buffers falls below safety stock, when that is before `from`; `via` the supplier whose
 *   shortfall reaches it first. Twins that lose no output are not listed, even when a buffer of
 *   theirs falls below safety stock. `outputs`: every twin hit the caller may see, for the next hop.
 * - The scenario (`partGroups`): expedited lead times replace a link's, extra stock adds to its
 *   group's buffer, alternates relieve a group from now + their lead time.
 * - Inputs naming one of this organization's own twins are ignored: its loss is computed here.
 * - A twin the caller may not see is listed in `hiddenIds` when hit; its loss is not passed on.
 * - Loops: the twins are searched depth first from the origins; a link to a twin still on the
 *   search stack closes a loop and is not followed (its customer, when its supplier is hit, is
 *   listed in `cycles`), which leaves a directed acyclic graph, computed in topological order.
 * Everything stops at `until`. A twin's loss keeps at most MAX_SEGMENTS segments (`coarsen`).
 * Linear in twins, links and segments (but for sorting), times the origins a twin depends on.
 */
export function propagate(input: PropagationInput): PropagationResult {
  const { now, until, visible } = input;
  const own = new Set(input.twins.map((twin) => twin.twinId));
  const customers = new Map<string, string[]>();
  for (const twin of input.twins) {
    for (const link of twin.links) {
      const list = customers.get(link.supplierId);
      if (list) list.push(twin.twinId);
      else customers.set(link.supplierId, [twin.twinId]);
    }
  }

  const hits = new Map<string, Hit>();
  for (const { supplierId, tier, loss } of input.inputs) {
    if (own.has(supplierId) || !customers.has(supplierId)) continue;
    const known = hits.get(supplierId);
    hits.set(
      supplierId,
      known
        ? { ...known, loss: maxOf([known.loss, loss], until), tier: Math.min(known.tier, tier) }
        : { loss: shift(loss, 0, until), tier, on: new Set([supplierId]) },
    );
  }
  const disruptions = new Map<string, Loss>();
  for (const { twinId, from, to, capacity } of input.disruptions) {
    if (!own.has(twinId)) continue;
    disruptions.set(twinId, maxOf([disruptions.get(twinId) ?? [], shift([{ from, to, loss: 1 - capacity }], 0, until)], until));
  }
  const origins = [...hits.keys(), ...disruptions.keys()];

  const follows = new Map<string, boolean>();
  const followed = (node: string) => {
    if (!follows.has(node)) follows.set(node, node === ROOT || !own.has(node) || visible(node));
    return follows.get(node)!;
  };
  // Only the twins the origins reach make the graph: a question about one twin costs its
  // downstream, not the whole organization.
  const reached = new Set(origins);
  for (const node of reached) if (followed(node)) for (const customer of customers.get(node) ?? []) reached.add(customer);
  const twins = input.twins.filter((twin) => reached.has(twin.twinId));
  const graph = new DirectedGraph();
  graph.addNode(ROOT);
  for (const twin of twins) graph.mergeNode(twin.twinId);
  for (const twin of twins) for (const link of twin.links) graph.mergeEdge(graph.mergeNode(link.supplierId)[0], twin.twinId);
  for (const origin of origins) graph.mergeEdge(ROOT, origin);

  // Depth first from the origins, without recursion: `open` twins are on the search stack.
  const state = new Map<string, 'open' | 'done'>([[ROOT, 'open']]);
  const stack = [{ node: ROOT, next: graph.outNeighbors(ROOT).values() }];
  const cut: [string, string][] = [];
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    const step = top.next.next();
    if (step.done) {
      state.set(top.node, 'done');
      stack.pop();
    } else if (state.get(step.value) === 'open') cut.push([top.node, step.value]);
    else if (!state.has(step.value)) {
      state.set(step.value, 'open');
      stack.push({ node: step.value, next: (followed(step.value) ? graph.outNeighbors(step.value) : []).values() });
    }
  }
  // What is left: the twins reached and the links followed from them, but those closing a loop.
  graph.dropNode(ROOT);
  for (const node of graph.nodes()) {
    if (!state.has(node)) graph.dropNode(node);
    else if (!followed(node)) for (const edge of graph.outEdges(node)) graph.dropEdge(edge);
  }
  for (const [supplier, customer] of cut) graph.dropEdge(supplier, customer);

  const groups = partGroups(twins, input.modifications, now, until);
  const capacityOf = new Map(twins.map((twin) => [twin.twinId, twin.capacityPerDay]));
  const affected: AffectedTwin[] = [];
  const hiddenIds: string[] = [];
  for (const twinId of topologicalSort(graph)) {
    if (!own.has(twinId)) continue;
    const disrupted = disruptions.get(twinId) ?? [];
    const parts: { loss: Loss; via: string; atRiskFrom: number | null; suppliers: Hit[] }[] = [];
    for (const group of groups.get(twinId)!.values()) {
      const terms: { loss: Loss; weight: number; supplierId: string; supplier: Hit }[] = [];
      for (const link of group.links) {
        const supplier = graph.hasEdge(link.supplierId, twinId) ? hits.get(link.supplierId) : undefined;
        const loss = supplier ? shift(supplier.loss, Math.round(link.leadTimeHours * HOUR_MS), until) : [];
        if (loss.length > 0) terms.push({ loss, weight: link.share, supplierId: link.supplierId, supplier: supplier! });
      }
      if (terms.length === 0) continue;
      const { loss, atRiskFrom } = draw(minus(weightedSum(terms, 1, until), weightedSum(group.relief, Infinity, until), until), group.buffer);
      const first = terms.reduce((a, b) => (b.loss[0]!.from < a.loss[0]!.from ? b : a));
      if (loss.length > 0 || atRiskFrom !== null) parts.push({ loss, via: first.supplierId, atRiskFrom, suppliers: terms.map((term) => term.supplier) });
    }
    const loss = coarsen(maxOf([disrupted, ...parts.map((part) => part.loss)], until));
    if (loss.length === 0) continue;
    const losing = parts.filter((part) => part.loss.length > 0);
    const suppliers = losing.flatMap((part) => part.suppliers);
    const sources = disrupted.length > 0 ? [new Set([twinId]), ...suppliers.map((supplier) => supplier.on)] : suppliers.map((supplier) => supplier.on);
    hits.set(twinId, {
      loss,
      tier: disrupted.length > 0 ? 0 : suppliers.reduce((fewest, supplier) => Math.min(fewest, supplier.tier + 1), Infinity),
      on: sources.length === 1 ? sources[0]! : new Set(sources.flatMap((on) => [...on])),
    });
    if (!visible(twinId)) {
      hiddenIds.push(twinId);
      continue;
    }
    const from = loss[0]!.from;
    const risks = parts.map((part) => part.atRiskFrom).filter((at): at is number => at !== null && at < from);
    const capacityPerDay = capacityOf.get(twinId)!;
    affected.push({
      twinId,
      tier: hits.get(twinId)!.tier,
      from,
      to: loss.at(-1)!.to,
      capacityLost: Math.max(...loss.map((segment) => segment.loss)),
      unitsLost: capacityPerDay === null ? null : capacityPerDay * lostDays(loss),
      atRiskFrom: risks.length > 0 ? Math.min(...risks) : null,
      via: disrupted.length > 0 ? twinId : losing.reduce((a, b) => (b.loss[0]!.from < a.loss[0]!.from ? b : a)).via,
      loss,
    });
  }
  affected.sort((a, b) => a.from - b.from || (a.twinId < b.twinId ? -1 : 1));
  const cycles = [...new Set(cut.filter(([supplier, customer]) => hits.has(supplier) && visible(customer)).map(([, customer]) => customer))].sort();
  return {
    affected,
    outputs: affected.map(({ twinId, tier, loss }) => ({ supplierId: twinId, tier, loss })),
    dependsOn: affected.map(({ twinId }) => ({ supplierId: twinId, on: [...hits.get(twinId)!.on].sort() })),
    hiddenIds,
    cycles,
  };
}
