import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';

/**
 * What every twinx service gives Apollo Server besides its schema and settings: its own `plugins`,
 * after two turning off features twinx does not use — cache hints (their plugin wraps every
 * field's resolver, on every request) and federated traces (which a subgraph otherwise adds to its
 * answer for any caller that asks, with its timings); and no handling of SIGINT and SIGTERM of
 * Apollo's own, which stops the server and sends the signal again: the process would end before
 * the service's own shutdown (lib/run.ts) has drained its connections and stopped what it
 * started (the demo's nats-server).
 */
export function apolloServerOptions<TContext extends BaseContext>(plugins: ApolloServerPlugin<TContext>[] = []) {
  return {
    stopOnTerminationSignals: false,
    plugins: [ApolloServerPluginCacheControlDisabled(), ApolloServerPluginInlineTraceDisabled(), ...plugins],
  };
}
