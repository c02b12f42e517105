/** What the gateway's impact questions (`impact`, `whatIf`) take and answer, as the impact page reads them. */

export const HOUR_MS = 3_600_000;

/** A disruption as `DisruptionInput` (and a saved scenario's) spells it: absent fields take the gateway's defaults. */
export interface Disruption {
  twinId: string;
  from?: string;
  to?: string;
  hours?: number;
  /** Share of its output the twin keeps: 0, stopped. */
  capacity: number;
  predicted: boolean;
}

/** What would help, as `ScenarioInput` spells it. */
export interface Modifications {
  alternates: { customerId: string; part: string | null; share: number; leadTimeHours: number }[];
  extraStock: { customerId: string; supplierId: string; days: number }[];
  leadTimes: { customerId: string; supplierId: string; leadTimeHours: number }[];
}

/** A what-if scenario: `ScenarioInput`, and the definition a saved one holds. */
export interface Scenario extends Partial<Modifications> {
  name: string;
  disruptions: Disruption[];
}

/** The question's bounds. */
export interface Bounds {
  horizonHours: number;
  maxHops: number;
}

/** The gateway's own defaults. */
export const DEFAULT_BOUNDS: Bounds = { horizonHours: 720, maxHops: 12 };

export interface Loss {
  from: string;
  to: string;
  share: number;
}

export interface Hit {
  twinId: string;
  org: string;
  tier: number;
  hoursToImpact: number;
  durationHours: number;
  capacityLost: number;
  unitsLost: number | null;
  atRiskFrom: string | null;
  via: string;
  chance: number | null;
  losses: Loss[];
  twin: { name: string | null; org: { name: string }; capacity: { unit: string | null } | null } | null;
}

export type Stop = 'UNAVAILABLE' | 'FORBIDDEN' | 'HOP_LIMIT' | 'CYCLE';

export interface Boundary {
  org: string;
  reason: Stop;
  twinIds: string[];
  message: string;
}

export interface Impact {
  disruptions: { twinId: string; from: string; to: string; capacity: number; predicted: boolean; spreadHours: number | null }[];
  affected: Hit[];
  unknown: Boundary[];
  hops: number;
}

/** Most twins hit an answer shows, the soonest first: the gateway serves them by `affected(first:)`, each priced in the query's cost. */
export const AFFECTED_SHOWN = 200;

const HIT_FIELDS =
  'twinId org tier hoursToImpact durationHours capacityLost unitsLost atRiskFrom via chance losses { from to share } twin { name org { name } capacity { unit } }';
const IMPACT_FIELDS = `disruptions { twinId from to capacity predicted spreadHours } affected(first: ${AFFECTED_SHOWN}) { ${HIT_FIELDS} } unknown { org reason twinIds message } hops`;

/** The impact of one disruption, with the network's organizations to name where it stops. */
export const IMPACT = `query Impact($of: DisruptionInput!, $horizonHours: Float!, $maxHops: Int!) {
  impact(of: $of, horizonHours: $horizonHours, maxHops: $maxHops) { ${IMPACT_FIELDS} }
  organizations { slug name }
}`;

/**
 * One scenario evaluated: given, or saved (by id). A comparison asks one scenario per request,
 * all at once: each costs 250 per hop against the query cost limit, which ten at 12 hops exceed.
 */
export const WHAT_IF = `query WhatIf($scenarios: [ScenarioInput!], $ids: [ID!], $horizonHours: Float!, $maxHops: Int!) {
  whatIf(scenarios: $scenarios, scenarioIds: $ids, horizonHours: $horizonHours, maxHops: $maxHops) { name scenarioId impact { ${IMPACT_FIELDS} } }
}`;

/** A number as people read it here: at most one decimal. */
export const formatNumber = (value: number) => String(Number(value.toFixed(1)));

export const formatHours = (hours: number) => `${formatNumber(hours)} h`;

/** A share as a percentage. */
export const formatShare = (share: number) => `${formatNumber(share * 100)} %`;

/** Units of output, rounded, with the twin's unit when it declares one. */
export function formatUnits(hit: Pick<Hit, 'unitsLost' | 'twin'>): string {
  if (hit.unitsLost === null) return '—';
  const unit = hit.twin?.capacity?.unit;
  return `${formatNumber(hit.unitsLost)}${unit ? ` ${unit}` : ''}`;
}

/** When the answer's hours count from: the earliest disruption's start. */
export const startOf = (impact: Impact) => Math.min(...impact.disruptions.map((disruption) => Date.parse(disruption.from)));

/** How soon a twin is hit, as its colour on the graph and in the table says. */
export type Urgency = 'source' | 'day' | 'days' | 'later';

export function urgencyOf(hit: Pick<Hit, 'tier' | 'hoursToImpact'>): Urgency {
  if (hit.tier === 0) return 'source';
  if (hit.hoursToImpact < 24) return 'day';
  return hit.hoursToImpact < 72 ? 'days' : 'later';
}

export const URGENCIES: { urgency: Urgency; label: string }[] = [
  { urgency: 'source', label: 'disrupted' },
  { urgency: 'day', label: 'hit within a day' },
  { urgency: 'days', label: 'within 3 days' },
  { urgency: 'later', label: 'later' },
];

/** Where an answer stops, in plain words: who, why, and the organization's own explanation. */
export function boundaryText(boundary: Boundary, orgName: (slug: string) => string): string {
  const who = orgName(boundary.org);
  switch (boundary.reason) {
    case 'FORBIDDEN':
      return `${who}: not shared with you — ${boundary.message}`;
    case 'UNAVAILABLE':
      return `${who} unavailable — ${boundary.message}`;
    case 'CYCLE':
      return `${who}: supply loop — ${boundary.message}`;
    case 'HOP_LIMIT':
      return `${who}: hop limit reached — ${boundary.message}`;
  }
}
