/**
 * Impact across the supply network (ARCHITECTURE.md): the shapes organizations, the directory and
 * the gateway exchange to answer "what happens downstream if this twin is disrupted", hop by hop.
 * Times are ms since the epoch; durations in the API are hours.
 *
 * The model (lib/impact/propagate.ts), per organization over its own twins:
 * - A supply link of customer C on supplier S carries a part (null: S's output itself), S's share
 *   of C's need of that part, the lead time from S to C, and C's buffer of the part: stock and
 *   safety stock in units with C's consumption per day, or days of supply (then safety stock is
 *   in days too).
 * - S losing a share L(t) of its output takes `leadTimeHours` to reach C: the part's shortfall at
 *   C is the sum over its suppliers of share × L(t − lead time), a share of C's consumption. The
 *   shortfall is drawn from the buffer first (shortfall × consumption per day); once the buffer is
 *   empty C loses that share of its output, until the shortfall ends (the buffer is not refilled
 *   within the answer). C's lost share at t is the largest over its parts (it needs all of them).
 * - `atRiskFrom`: when a buffer of a twin losing output falls below safety stock, if it does before
 *   the twin loses output. Only twins that lose output are listed: a twin whose buffers only fall
 *   below safety stock is not.
 * - Tier: hops from the disrupted twin (1: supplied by it directly), the fewest over the paths
 *   along which a loss gets past the buffers.
 */

/** A share of a twin's output lost over [from, to); `loss` in (0, 1]. */
export interface LossSegment {
  from: number;
  to: number;
  loss: number;
}

/** Lost output over time: segments in time order, not overlapping; nothing lost outside them. */
export type Loss = LossSegment[];

/** What a question supposes of one twin: it keeps `capacity` (0: stopped) of its output over [from, to). */
export interface Disruption {
  twinId: string;
  from: number;
  to: number;
  /** Share of its output the twin keeps, in [0, 1). */
  capacity: number;
}

/** A disruption as asked: times default at the owner; `predicted` takes the start from the twin's remaining useful life. */
export interface DisruptionRequest {
  twinId: string;
  /** Default: now. */
  from?: number;
  /** Default: from + hours, else the end of the horizon. */
  to?: number;
  hours?: number;
  capacity: number;
  /** Start at the twin's predicted failure (p50 of its RUL), lasting its mean time to repair (else `hours`). */
  predicted: boolean;
}

/** A disruption as its owner resolved it. */
export interface ResolvedDisruption extends Disruption {
  predicted: boolean;
  /** Standard deviation of a predicted start, in hours (from the RUL's p10 and p90); null when not predicted. */
  spreadHours: number | null;
}

/** What a what-if scenario supposes besides its disruptions: applied in memory to the owners' data, never stored on the twins. */
export interface Modifications {
  /** An alternate supplier takes a share of a customer's need of a part, from now + its lead time. */
  alternates: { customerId: string; part: string | null; share: number; leadTimeHours: number }[];
  /** Extra stock at a customer of what one supplier delivers, in days of its consumption. */
  extraStock: { customerId: string; supplierId: string; days: number }[];
  /** An expedited lead time of one supply link. */
  leadTimes: { customerId: string; supplierId: string; leadTimeHours: number }[];
}

/** A twin's lost output as its owner says it: what the next hop needs. */
export interface SupplierLoss {
  /** Global id of the twin whose output is lost (the supplier of the next hop). */
  supplierId: string;
  tier: number;
  loss: Loss;
}

/** What an output's loss comes from at its owner: the request's inputs (suppliers) and disrupted twins that reach it. */
export interface OutputSources {
  supplierId: string;
  on: string[];
}

/** One twin hit, as its owner computed it. */
export interface AffectedTwin {
  twinId: string;
  tier: number;
  /** When its output first drops (after buffers and lead times) and when it is whole again. */
  from: number;
  to: number;
  /** Largest share of its output lost. */
  capacityLost: number;
  /** Units of output lost (its capacity per day × lost share × time); null when its capacity is not declared. */
  unitsLost: number | null;
  /** When a buffer of it falls below safety stock, if it does before `from`. */
  atRiskFrom: number | null;
  /** The supplier whose shortage hits it first (its own id when it is a disrupted twin). */
  via: string;
  loss: Loss;
}

/** One hop: what the gateway asks an organization (its `impactStep(request:)`), with the caller's tokens for it. */
export interface ImpactStepRequest {
  /** When the question is asked; the same for every organization of one answer. */
  now: number;
  /** Nothing is followed past it. */
  until: number;
  /** Disruptions of this organization's own twins that start the question. */
  disruptions: DisruptionRequest[];
  /** Lost output of other organizations' twins this organization's twins are supplied by, as their owners said it. */
  inputs: SupplierLoss[];
  modifications: Modifications;
}

/** One hop's answer. */
export interface ImpactStepAnswer {
  /** The request's disruptions as resolved here. */
  disruptions: ResolvedDisruption[];
  /** This organization's twins hit that the caller may see (`supply:read`). */
  affected: AffectedTwin[];
  /** Every twin of this organization whose output is lost and the caller may see, for the next hops. */
  outputs: SupplierLoss[];
  /** For each output, what its loss comes from: the gateway follows a loss around a cycle only when it does come back. */
  dependsOn: OutputSources[];
  /** `outputs`, signed by this organization (lib/impact/statement.ts). */
  statement: string;
  /** Twins hit that the caller may not see: neither shown nor followed. */
  hidden: number;
  /** Twins where this organization's own supply graph loops back on itself: followed once, not around. */
  cycles: string[];
}

/** Why an answer stops somewhere: named, never silently dropped. */
export type ImpactStop = 'UNAVAILABLE' | 'FORBIDDEN' | 'HOP_LIMIT' | 'CYCLE';

/** Where an answer stops. */
export interface ImpactBoundary {
  org: string;
  reason: ImpactStop;
  /** The twins whose loss could not be followed further (suppliers at the boundary, or twins of a cycle). */
  twinIds: string[];
  message: string;
}

/** The gateway's answer to one impact question (gateway/impact/orchestrator.ts). */
export interface ImpactAnswer {
  disruptions: ResolvedDisruption[];
  /** Every twin hit across the network, as far as the caller's grants reach, by time to impact. */
  affected: (AffectedTwin & { org: string; chance: number | null })[];
  unknown: ImpactBoundary[];
  /** Hops (waves of organizations asked) the answer took. */
  hops: number;
}

/** One impact question: disruptions and what a scenario supposes besides. */
export interface ImpactQuestion {
  disruptions: DisruptionRequest[];
  modifications: Modifications;
  horizonHours: number;
  maxHops: number;
  now: number;
}
