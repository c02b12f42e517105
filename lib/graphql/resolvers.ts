import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';

export type { GraphQLResolverMap };

/** Merges resolver maps of several concepts; a type may get fields from more than one. */
export function mergeResolvers<TContext>(...maps: GraphQLResolverMap<TContext>[]): GraphQLResolverMap<TContext> {
  const merged: GraphQLResolverMap<TContext> = {};
  for (const map of maps) {
    for (const [type, fields] of Object.entries(map)) merged[type] = { ...merged[type], ...fields } as GraphQLResolverMap<TContext>[string];
  }
  return merged;
}
