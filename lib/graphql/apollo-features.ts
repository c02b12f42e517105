import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';

/**
 * Apollo Server features twinx does not use, off in every service: cache hints (their plugin wraps
 * every field's resolver, on every request) and federated traces (which a subgraph otherwise adds
 * to its answer for any caller that asks, with its timings).
 */
export function unusedApolloFeaturesOff(): ApolloServerPlugin[] {
  return [ApolloServerPluginCacheControlDisabled(), ApolloServerPluginInlineTraceDisabled()];
}
