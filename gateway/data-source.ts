import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { Agent } from 'node:http';
import nodeFetch from 'node-fetch';
import { ErrorCode, TwinxError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import type { PresentedToken } from '../lib/tokens/network.ts';
import { COMPOSED_HEADER } from '../subgraphs/directory/server.ts';
import { parseSubgraphOperation, type MemberAnswers, type SubgraphOperation } from './answers.ts';
import type { GatewayContext } from './server.ts';

/** The directory's name in the supergraph (a reserved slug, so no member's). */
export const DIRECTORY_SUBGRAPH = 'directory';

/** What a data source needs to know of the network as this gateway composed it. */
export interface ComposedNetwork {
  /** The composed members' slugs, comma-separated: the directory's `twinx-composed` header. */
  composedSlugs(): string;
  /** What a composed member may say in its answers; undefined for a member not composed. */
  answersOf(slug: string): MemberAnswers | undefined;
}

/** Options of a `SubgraphDataSource`. */
export interface SubgraphDataSourceOptions {
  /** `directory`, or the member's slug. */
  subgraph: string;
  url: string;
  /** Longest wait for the subgraph's answer, in ms. */
  timeoutMs: number;
  network: ComposedNetwork;
  logger: Logger;
}

type ReceivedResponse = Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['didReceiveResponse']>>[0];

const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** Parsed subgraph operations kept per subgraph. The query planner writes few distinct ones; the cap keeps it so. */
const MAX_OPERATIONS = 1000;

/**
 * The gateway's link to one subgraph. Forwards to each subgraph only the tokens its organization
 * issued (the directory gets them all: it needs them for visibility) and tells the directory
 * which members this gateway composed, so that it hands out no twin of another; refuses, as a
 * whole, a member's answer that speaks for another organization (`FOREIGN_ID`); gives up on a
 * subgraph after the timeout.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly operations = new Map<string, SubgraphOperation>();

  constructor(private readonly options: SubgraphDataSourceOptions) {
    // node-fetch on a keep-alive agent: measured faster than Node's built-in fetch for the many
    // small requests a query plan makes (bench/gateway.ts).
    super({ url: options.url, fetcher: (input, init) => nodeFetch(input, { ...init, agent: keepAlive, timeout: options.timeoutMs }) });
  }

  /** A subgraph that does not answer, or refuses, fails its part of the answer with its name. */
  override didEncounterError(error: Error, _request: unknown, response?: { status: number }): void {
    const { subgraph } = this.options;
    if (response?.status === 401) throw new TwinxError(ErrorCode.UNAUTHENTICATED, `${subgraph} refused the tokens it issued.`, { subgraph });
    throw new TwinxError(ErrorCode.UNAVAILABLE, `${subgraph} is unavailable: ${error.name === 'TimeoutError' ? 'no answer in time' : 'cannot be reached'}.`, {
      subgraph,
    });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const { subgraph, network } = this.options;
    const tokens: PresentedToken[] = 'tokens' in context && context.tokens ? context.tokens : [];
    const mine = subgraph === DIRECTORY_SUBGRAPH ? tokens : tokens.filter((token) => token.org === subgraph);
    for (const [name, value] of Object.entries(tokenHeaders(mine.map((token) => token.token)))) request.http?.headers.set(name, value);
    if (subgraph === DIRECTORY_SUBGRAPH) request.http?.headers.set(COMPOSED_HEADER, network.composedSlugs());
  }

  override didReceiveResponse({ request, response }: ReceivedResponse): ReceivedResponse['response'] {
    const { subgraph, network, logger } = this.options;
    if (subgraph === DIRECTORY_SUBGRAPH || response.data === null || response.data === undefined) return response;
    const answers = network.answersOf(subgraph);
    if (answers === undefined) throw new TwinxError(ErrorCode.UNAVAILABLE, `${subgraph} is no longer in the network graph.`, { subgraph });
    const problem = answers.problemIn(this.operation(request.query!), response.data);
    if (problem === undefined) return response;
    logger.warn({ subgraph, problem: problem.what, path: problem.path.join('.') }, 'refused a member answer that speaks for another organization');
    throw new TwinxError(ErrorCode.FOREIGN_ID, `${subgraph}'s answer was refused: it does not keep to ${subgraph}'s own twins and types.`, { subgraph });
  }

  private operation(query: string): SubgraphOperation {
    let operation = this.operations.get(query);
    if (operation === undefined) {
      if (this.operations.size >= MAX_OPERATIONS) this.operations.delete(this.operations.keys().next().value!);
      this.operations.set(query, (operation = parseSubgraphOperation(query)));
    }
    return operation;
  }
}
