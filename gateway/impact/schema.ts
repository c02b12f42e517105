import DataLoader from 'dataloader';
import { extendSchema, getNamedType, parse, type GraphQLFieldResolver, type GraphQLObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { z } from 'zod';
import { ErrorCode, fail } from '../../lib/errors.ts';
import type { ArgumentReader, CostOptions } from '../../lib/graphql/limits.ts';
import { fieldName, parseTwinId } from '../../lib/ids.ts';
import { HOUR_MS } from '../../lib/impact/loss.ts';
import { scenarioQuestion, scenarioSchema, type Scenario } from '../../lib/impact/protocol.ts';
import type { ImpactAnswer } from '../../lib/impact/types.ts';
import type { PresentedToken } from '../../lib/tokens/network.ts';
import { parseInput } from '../../lib/validation.ts';
import { readNetworkTypesByResponseKey, selectionText, twinField, twinQuery, twinSelections } from '../twin-query.ts';
import { MAX_HOPS, type ImpactOrchestrator } from './orchestrator.ts';

/** The gateway's own impact fields, beside the network graph's. */
const IMPACT_SDL = /* GraphQL */ `
  extend type Query {
    "What happens downstream if a twin is disrupted: the twins hit across organizations, when, for how long, how much — as far as the caller's grants reach; where the answer stops is named in unknown."
    impact(of: DisruptionInput!, horizonHours: Float = 720, maxHops: Int = 12): Impact!
    "What-if scenarios evaluated side by side without touching the twins: given here, or saved at an organization (ids <org>:<uuid>)."
    whatIf(scenarios: [ScenarioInput!], scenarioIds: [ID!], horizonHours: Float = 720, maxHops: Int = 12): [ScenarioImpact!]!
  }

  "A twin keeping a share of its output (capacity; 0: stopped) over a time: from (default now) to (default from + hours, else the horizon's end); predicted: from the twin's predicted failure, for its mean time to repair."
  input DisruptionInput {
    twinId: ID!
    from: DateTime
    to: DateTime
    hours: Float
    capacity: Float = 0
    predicted: Boolean = false
  }

  type Impact {
    disruptions: [ImpactDisruption!]!
    "The first twins hit, by time to impact (at most 10000)."
    affected(first: Int! = 500): [ImpactedTwin!]!
    "Where the answer stops: organizations down, grants that do not reach, cycles, the hop limit."
    unknown: [ImpactBoundary!]!
    "Waves of organizations the answer took."
    hops: Int!
  }

  type ImpactDisruption {
    twinId: ID!
    from: DateTime!
    to: DateTime!
    capacity: Float!
    predicted: Boolean!
    "Standard deviation of a predicted start, in hours."
    spreadHours: Float
  }

  type ImpactedTwin {
    twinId: ID!
    org: String!
    "The twin, from the network graph with the caller's own tokens."
    twin: Twin
    "Hops from the disrupted twin (1: supplied by it directly)."
    tier: Int!
    "When its output first drops, after buffers and lead times."
    from: DateTime!
    "When it is whole again."
    to: DateTime!
    "From the earliest disruption's start to from."
    hoursToImpact: Float!
    durationHours: Float!
    "Largest share of its output lost."
    capacityLost: Float!
    "Units of output lost; null when its capacity is not declared."
    unitsLost: Float
    "When a buffer of it falls below safety stock, if it does before from."
    atRiskFrom: DateTime
    "The supplier whose shortage hits it first."
    via: ID!
    "With predicted disruptions: the chance that it is hit within the horizon."
    chance: Float
    losses: [CapacityLoss!]!
  }

  type CapacityLoss {
    from: DateTime!
    to: DateTime!
    share: Float!
  }

  type ImpactBoundary {
    org: String!
    reason: ImpactStop!
    "The twins whose loss could not be followed further."
    twinIds: [ID!]!
    message: String!
  }

  enum ImpactStop {
    UNAVAILABLE
    FORBIDDEN
    HOP_LIMIT
    CYCLE
  }

  input ScenarioInput {
    name: String!
    disruptions: [DisruptionInput!]!
    alternates: [AlternateInput!]
    extraStock: [ExtraStockInput!]
    leadTimes: [LeadTimeInput!]
  }

  "An alternate supplier taking a share of a customer's need of a part (null: of everything it is supplied), from now + its lead time."
  input AlternateInput {
    customerId: ID!
    part: String
    share: Float!
    leadTimeHours: Float!
  }

  "Extra stock at a customer of what one supplier delivers, in days of its consumption."
  input ExtraStockInput {
    customerId: ID!
    supplierId: ID!
    days: Float!
  }

  "An expedited lead time of one supply link."
  input LeadTimeInput {
    customerId: ID!
    supplierId: ID!
    leadTimeHours: Float!
  }

  type ScenarioImpact {
    name: String!
    "The saved scenario's id, when it was given by id."
    scenarioId: ID
    impact: Impact!
  }
`;

/** Most scenarios one `whatIf` evaluates. */
export const MAX_SCENARIOS = 10;

/**
 * Most twins read in one operation: the caller's operation was costed with `affected` at its
 * `first` (lib/graphql/limits.ts), and each operation read for it stays within the default list size.
 */
const TWINS_PER_OPERATION = 50;

/** Most twins of an answer served (`affected(first:)`). */
export const MAX_AFFECTED = 10_000;

/**
 * Cost of one impact question per hop it may take: each hop asks organizations across the
 * network, so a question at the default 12 hops costs 3,000 and a handful fit in an operation.
 */
export const QUESTION_COST_PER_HOP = 250;

/** Requests an impact question (or a scenario of `whatIf`) counts as for its caller's rate: it asks organizations across the network. */
export const QUESTION_REQUESTS = 10;

/** The gateway's lists an answer computes rather than fetches, by item type: each item costs no more than one. */
const COMPUTED_LISTS = new Set(['CapacityLoss', 'ImpactBoundary', 'ImpactDisruption']);

/** The scenarios a `whatIf` is given (by definition and by id), as its arguments read. */
const scenarioCount = (argument: ArgumentReader) =>
  [argument('scenarios'), argument('scenarioIds')].reduce((sum: number, list) => sum + (Array.isArray(list) ? list.length : 0), 0);

/**
 * Sizes of the impact fields' lists in a query's cost (lib/graphql/limits.ts): `whatIf` answers as
 * many scenarios as it is given; the segments, boundaries and disruptions of an answer are
 * computed by the gateway, not read per item from organizations, and count once. The twins hit
 * (`affected`, each reading its `twin`) count by its `first`.
 */
export const impactListSize: NonNullable<CostOptions['listSize']> = (field, argument) => {
  const type = getNamedType(field.type).name;
  if (type === 'ScenarioImpact') return scenarioCount(argument);
  return COMPUTED_LISTS.has(type) ? 1 : undefined;
};

/**
 * The cost of the impact questions themselves (lib/graphql/limits.ts): `impact` and each scenario
 * of `whatIf` cost QUESTION_COST_PER_HOP for each hop they may take (MAX_HOPS when `maxHops` is
 * not a usable number), whatever their answer's selection costs besides.
 */
export const impactFieldCost: NonNullable<CostOptions['fieldCost']> = (field, argument) => {
  const question = field.args.some((arg) => arg.name === 'maxHops');
  if (!question) return undefined;
  const maxHops = argument('maxHops');
  const hops = typeof maxHops === 'number' && maxHops >= 1 ? Math.min(Math.ceil(maxHops), MAX_HOPS) : MAX_HOPS;
  const questions = getNamedType(field.type).name === 'ScenarioImpact' ? scenarioCount(argument) : 1;
  return questions * hops * QUESTION_COST_PER_HOP;
};

export interface ImpactSchemaDeps {
  orchestrator: ImpactOrchestrator;
  /** Runs an operation through the network graph with the caller's tokens: its data, or throws its first error. */
  query: (query: string, variables: Record<string, unknown>, tokens: PresentedToken[]) => Promise<Record<string, unknown>>;
  /** Whether the organization is in the network graph as this gateway composed it. */
  composed: (org: string) => boolean;
  /** Takes `requests` from the caller's rate: throws `RATE_LIMITED` beyond it. */
  take: (tokens: PresentedToken[], requests: number) => void;
}

interface ImpactContext {
  tokens: PresentedToken[];
}

interface DisruptionArgs {
  twinId: string;
  from?: string | null;
  to?: string | null;
  hours?: number | null;
  capacity?: number | null;
  predicted?: boolean | null;
}

interface ScenarioArgs {
  name: string;
  disruptions: DisruptionArgs[];
  alternates?: { customerId: string; part?: string | null; share: number; leadTimeHours: number }[] | null;
  extraStock?: { customerId: string; supplierId: string; days: number }[] | null;
  leadTimes?: { customerId: string; supplierId: string; leadTimeHours: number }[] | null;
}

const boundsSchema = z.object({
  horizonHours: z
    .number()
    .gt(0)
    .max(366 * 24),
  maxHops: z.number().int().min(1).max(MAX_HOPS),
});

/** A scenario's disruption as saved scenarios spell it (scenarioSchema): absent rather than null. */
function disruptionDefinition({ twinId, from, to, hours, capacity, predicted }: DisruptionArgs): Record<string, unknown> {
  return Object.fromEntries(Object.entries({ twinId, from, to, hours, capacity, predicted }).filter(([, value]) => value !== null && value !== undefined));
}

function scenarioDefinition(scenario: ScenarioArgs): Record<string, unknown> {
  return {
    name: scenario.name,
    disruptions: scenario.disruptions.map(disruptionDefinition),
    ...(scenario.alternates ? { alternates: scenario.alternates.map((alternate) => ({ ...alternate, part: alternate.part ?? null })) } : {}),
    ...(scenario.extraStock ? { extraStock: scenario.extraStock } : {}),
    ...(scenario.leadTimes ? { leadTimes: scenario.leadTimes } : {}),
  };
}

const affectedSchema = z.object({ first: z.number().int().min(1).max(MAX_AFFECTED) });

const iso = (time: number) => new Date(time).toISOString();

/** An answer as the API serves it (`Impact`): times as timestamps, durations in hours from the earliest disruption's start. */
export function impactOf(answer: ImpactAnswer) {
  const start = Math.min(...answer.disruptions.map((disruption) => disruption.from));
  return {
    disruptions: answer.disruptions.map((disruption) => ({ ...disruption, from: iso(disruption.from), to: iso(disruption.to) })),
    affected: answer.affected.map((twin) => ({
      ...twin,
      from: iso(twin.from),
      to: iso(twin.to),
      hoursToImpact: (twin.from - start) / HOUR_MS,
      durationHours: (twin.to - twin.from) / HOUR_MS,
      atRiskFrom: twin.atRiskFrom === null ? null : iso(twin.atRiskFrom),
      losses: twin.loss.map((segment) => ({ from: iso(segment.from), to: iso(segment.to), share: segment.loss })),
    })),
    unknown: answer.unknown,
    hops: answer.hops,
  };
}

/**
 * The network graph's API schema extended with the gateway's impact fields (`impact`, `whatIf`),
 * answered by the orchestrator; the twins of an answer (`ImpactedTwin.twin`) are read from the
 * network graph with the caller's own tokens, in one operation for all of them.
 */
export function impactSchema(apiSchema: GraphQLSchema, deps: ImpactSchemaDeps): GraphQLSchema {
  const schema = extendSchema(apiSchema, parse(IMPACT_SDL));
  readNetworkTypesByResponseKey(schema, apiSchema);

  const ask = async (scenario: Scenario, now: number, bounds: z.output<typeof boundsSchema>, tokens: PresentedToken[]) =>
    impactOf(await deps.orchestrator.run(scenarioQuestion(scenario, now, bounds.horizonHours, bounds.maxHops), tokens));

  /** Saved scenarios by id, read from their organizations in one operation with the caller's tokens. */
  const saved = async (ids: readonly string[], tokens: PresentedToken[]) => {
    if (ids.length === 0) return [];
    const orgs = ids.map((id, index) => {
      const org = parseTwinId(id)?.org;
      if (!org)
        throw fail(ErrorCode.INVALID_INPUT, `scenarioIds.${index}: "${id}" is not a scenario id of the form <org>:<id>.`, { field: `scenarioIds.${index}` });
      if (!deps.composed(org)) throw fail(ErrorCode.UNAVAILABLE, `${org} is not in the network graph now.`, { org });
      return org;
    });
    const variables = Object.fromEntries(ids.map((id, index) => [`s${index}`, id]));
    const fields = orgs.map((org, index) => `s${index}: ${fieldName(org)} { scenario(id: $s${index}) { id name definition } }`);
    const data = await deps.query(`query SavedScenarios(${ids.map((_, index) => `$s${index}: ID!`).join(', ')}) { ${fields.join(' ')} }`, variables, tokens);
    return ids.map((id, index) => {
      const found = (data[`s${index}`] as { scenario?: { name: string; definition: unknown } | null } | null)?.scenario;
      if (!found) throw fail(ErrorCode.NOT_FOUND, `No scenario ${id} that you may read.`, { field: `scenarioIds.${index}` });
      return { name: found.name, scenarioId: id, scenario: parseInput(scenarioSchema, found.definition, `scenarioIds.${index}`) };
    });
  };

  const query = schema.getQueryType()!.getFields();
  query.impact!.resolve = (async (_source, args: { of: DisruptionArgs; horizonHours: number; maxHops: number }, ctx) => {
    const bounds = parseInput(boundsSchema, args, 'impact');
    const scenario = parseInput(scenarioSchema, { name: 'impact', disruptions: [disruptionDefinition(args.of)] }, 'of');
    deps.take(ctx.tokens, QUESTION_REQUESTS);
    return ask(scenario, Date.now(), bounds, ctx.tokens);
  }) as GraphQLFieldResolver<unknown, ImpactContext>;

  query.whatIf!.resolve = (async (
    _source,
    args: { scenarios?: ScenarioArgs[] | null; scenarioIds?: string[] | null; horizonHours: number; maxHops: number },
    ctx,
  ) => {
    const bounds = parseInput(boundsSchema, args, 'whatIf');
    const given = args.scenarios ?? [];
    const ids = args.scenarioIds ?? [];
    const count = given.length + ids.length;
    if (count === 0 || count > MAX_SCENARIOS) {
      throw fail(ErrorCode.INVALID_INPUT, `Give from 1 to ${MAX_SCENARIOS} scenarios (scenarios and scenarioIds together), not ${count}.`, {
        field: 'scenarios',
      });
    }
    deps.take(ctx.tokens, count * QUESTION_REQUESTS);
    const scenarios = [
      ...given.map((scenario, index) => ({
        name: scenario.name,
        scenarioId: null,
        scenario: parseInput(scenarioSchema, scenarioDefinition(scenario), `scenarios.${index}`),
      })),
      ...(await saved(ids, ctx.tokens)),
    ];
    const now = Date.now();
    return Promise.all(scenarios.map(async ({ name, scenarioId, scenario }) => ({ name, scenarioId, impact: await ask(scenario, now, bounds, ctx.tokens) })));
  }) as GraphQLFieldResolver<unknown, ImpactContext>;

  /**
   * Per request (or subscription), the twins of its answers: read together, TWINS_PER_OPERATION at
   * most at once; not kept, as a subscription's context outlives one answer.
   */
  const loaders = new WeakMap<object, DataLoader<string, Record<string, unknown>>>();
  const loaderOf = (ctx: ImpactContext, info: GraphQLResolveInfo) => {
    let loader = loaders.get(ctx);
    if (!loader) {
      const selections = twinSelections(info.schema, info.operation, info.fragments, 'ImpactedTwin');
      const order = [...selections.keys()];
      loader = new DataLoader(
        async (twinIds: readonly string[]) => {
          const { query: text, variables, idVariable } = twinQuery([...selections.values()], info, twinIds.length);
          const ids = Object.fromEntries(twinIds.map((twinId, twin) => [idVariable(twin), twinId]));
          const data = await deps.query(text, { ...variables, ...ids }, ctx.tokens);
          return twinIds.map((_, twin) => Object.fromEntries(order.map((text, selection) => [text, data[twinField(selection, twin)]])));
        },
        { maxBatchSize: TWINS_PER_OPERATION, cache: false },
      );
      loaders.set(ctx, loader);
    }
    return loader;
  };
  (schema.getType('Impact') as GraphQLObjectType).getFields().affected!.resolve = (source: ReturnType<typeof impactOf>, args: { first: number }) =>
    source.affected.slice(0, parseInput(affectedSchema, args, 'affected').first);
  const impactedTwin = schema.getType('ImpactedTwin') as GraphQLObjectType;
  impactedTwin.getFields().twin!.resolve = (async (source: { twinId: string }, _args, ctx, info) =>
    (await loaderOf(ctx, info).load(source.twinId))[selectionText(info.fieldNodes)] ?? null) as GraphQLFieldResolver<unknown, ImpactContext>;
  return schema;
}
