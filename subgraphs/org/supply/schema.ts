import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import type { TwinRow } from '../twins/store.ts';
import { capacityOf, removeSupply, setSupply, supplyOf } from './store.ts';

/** Supply links and capacities. The twin's `supply` and `capacity` are in the twin contract (lib/graphql/twin-types.ts). */
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

  extend type ${n.mutation} {
    "Sets what one of the twin's suppliers delivers to it. Needs twins:write."
    setSupply(twinId: ID!, supply: SupplyLinkInput!): SupplyLink!
    "Removes what a supplier delivers to the twin; it stays a supplier. Needs twins:write."
    removeSupply(twinId: ID!, supplierId: ID!): Boolean!
  }
`;
}

export function supplyResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.twin]: {
      supply: (twin: TwinRow, _: unknown, ctx: OrgContext) => supplyOf(ctx, twin),
      capacity: (twin: TwinRow, _: unknown, ctx: OrgContext) => capacityOf(ctx, twin),
    },
    [n.mutation]: {
      setSupply: (_: unknown, args: { twinId: string; supply: unknown }, ctx: OrgContext) => setSupply(ctx, args.twinId, args.supply),
      removeSupply: (_: unknown, args: { twinId: string; supplierId: string }, ctx: OrgContext) => removeSupply(ctx, args.twinId, args.supplierId),
    },
  };
}
