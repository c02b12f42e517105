import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import type { TwinRow } from '../twins/store.ts';
import { impactStep } from './impact.ts';
import { deleteScenario, getScenario, listScenarios, saveScenario } from './scenarios.ts';
import { capacityOf, removeSupply, setSupply, supplyOf } from './store.ts';

/** Supply links and capacities, saved what-if scenarios, and this organization's hop of impact questions. The twin's `supply` and `capacity` are in the twin contract (lib/graphql/twin-types.ts). */
export function supplySdl(n: OrgNames): string {
  return /* GraphQL */ `
  "What one supplier delivers to a twin; the buffer is stock (with consumptionPerDay) or daysOfSupply."
  input SupplyLinkInput {
    "Global id of a twin among the twin's suppliedByIds."
    supplierId: ID!
    "What flows; null: the supplier's output itself."
    part: String
    "The supplier's share of the twin's need of the part, 0 … 1."
    share: Float = 1
    leadTimeHours: Float = 0
    stock: Float
    "Units with stock, days with daysOfSupply."
    safetyStock: Float
    consumptionPerDay: Float
    daysOfSupply: Float
  }

  input CapacityInput {
    "Units of output per day, > 0."
    perDay: Float!
    unit: String
  }

  extend type ${n.query} {
    "What-if scenarios ${n.slug} saved, newest change first. Members only; needs supply:read."
    scenarios: [Scenario!]!
    "A saved scenario by id; null when there is none. Members only; needs supply:read."
    scenario(id: ID!): Scenario
    "One hop of an impact question (ImpactStepRequest → ImpactStepAnswer, signed). Needs supply:read; a predicted disruption, analytics:read on its twin too."
    impactStep(request: JSON!): JSON!
  }

  extend type ${n.mutation} {
    "Sets what one of the twin's suppliers delivers to it. Needs twins:write."
    setSupply(twinId: ID!, supply: SupplyLinkInput!): SupplyLink!
    "Removes what a supplier delivers to the twin; it stays a supplier. Needs twins:write."
    removeSupply(twinId: ID!, supplierId: ID!): Boolean!
    "Creates a scenario, or replaces the one with this id. Members only; needs twins:write."
    saveScenario(id: ID, name: String!, definition: JSON!): Scenario!
    "Deletes a scenario; whether it existed. Members only; needs twins:write."
    deleteScenario(id: ID!): Boolean!
  }
`;
}

export function supplyResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.twin]: {
      supply: (twin: TwinRow, _: unknown, ctx: OrgContext) => supplyOf(ctx, twin),
      capacity: (twin: TwinRow, _: unknown, ctx: OrgContext) => capacityOf(ctx, twin),
    },
    [n.query]: {
      scenarios: (_: unknown, __: unknown, ctx: OrgContext) => listScenarios(ctx),
      scenario: (_: unknown, args: { id: string }, ctx: OrgContext) => getScenario(ctx, args.id),
      impactStep: (_: unknown, args: { request: unknown }, ctx: OrgContext) => impactStep(ctx, args.request),
    },
    [n.mutation]: {
      setSupply: (_: unknown, args: { twinId: string; supply: unknown }, ctx: OrgContext) => setSupply(ctx, args.twinId, args.supply),
      removeSupply: (_: unknown, args: { twinId: string; supplierId: string }, ctx: OrgContext) => removeSupply(ctx, args.twinId, args.supplierId),
      saveScenario: (_: unknown, args: { id?: string | null; name: string; definition: unknown }, ctx: OrgContext) => saveScenario(ctx, args),
      deleteScenario: (_: unknown, args: { id: string }, ctx: OrgContext) => deleteScenario(ctx, args.id),
    },
  };
}
