import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GraphQLFormattedError } from 'graphql';
import { Agent } from 'node:http';
import nodeFetch from 'node-fetch';
import { ErrorCode, TwinxError, type ErrorDetails } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import type { PresentedToken } from '../lib/tokens/network.ts';
import { COMPOSED_HEADER } from '../subgraphs/directory/server.ts';
import { parseSubgraphOperation, placeError, type MemberAnswers, type SubgraphOperation } from './answers.ts';
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

type SubgraphResponse = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;
type ReceivedResponse = Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['didReceiveResponse']>>[0];

const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** Parsed subgraph operations kept per subgraph. The query planner writes few distinct ones; the cap keeps it so. */
const MAX_OPERATIONS = 1000;

/**
 * Codes a subgraph's error keeps: the catalogue's, but what only the gateway says of members
 * (`FOREIGN_ID`), and `INTERNAL`, said in the gateway's words.
 */
const SUBGRAPH_CODES = new Set<unknown>(Object.values(ErrorCode).filter((code) => code !== ErrorCode.FOREIGN_ID && code !== ErrorCode.INTERNAL));

/** Longest message or detail taken from a subgraph's error. */
const MAX_TEXT = 500;

/** The errors of a subgraph's answer that came with a status other than 200 (RemoteGraphQLDataSource.errorFromResponse). */
function answeredErrors(error: unknown): GraphQLFormattedError[] | undefined {
  const body = (error as { extensions?: { response?: { body?: unknown } } } | null)?.extensions?.response?.body;
  const errors = (body as { errors?: unknown } | null | undefined)?.errors;
  return Array.isArray(errors) && errors.length > 0 ? (errors as GraphQLFormattedError[]) : undefined;
}

/** What of a subgraph's error details passes: short plain values, never objects (responses, stacks). */
function detailsOf(extensions: unknown): ErrorDetails {
  if (typeof extensions !== 'object' || extensions === null) return {};
  return Object.fromEntries(
    Object.entries(extensions).filter(
      ([key, value]) => key !== 'code' && (typeof value === 'number' || typeof value === 'boolean' || (typeof value === 'string' && value.length <= MAX_TEXT)),
    ),
  ) as ErrorDetails;
}

/**
 * The gateway's link to one subgraph. Forwards to each subgraph only the tokens its organization
 * issued (the directory gets them all: it needs them for visibility) and tells the directory
 * which members this gateway composed, so that it hands out no twin of another; refuses, as a
 * whole, a member's answer that speaks for another organization (`FOREIGN_ID`); gives up on a
 * subgraph after the timeout. A subgraph's errors reach the caller with their code (one of the
 * catalogue's), message and path, placed within that subgraph's part of the answer; a subgraph
 * that cannot be reached or does not answer in time is one `UNAVAILABLE` error at its part.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly operations = new Map<string, SubgraphOperation>();
  /** Requests (by context) that found this subgraph unavailable: it is not asked again for them, nor said twice. */
  private readonly unavailableFor = new WeakSet<object>();

  constructor(private readonly options: SubgraphDataSourceOptions) {
    // node-fetch on a keep-alive agent: measured faster than Node's built-in fetch for the many
    // small requests a query plan makes (bench/gateway.ts).
    super({ url: options.url, fetcher: (input, init) => nodeFetch(input, { ...init, agent: keepAlive, timeout: options.timeoutMs }) });
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<SubgraphResponse> {
    // Only a caller's operations are placed in a caller's answer (not health checks or schema loads).
    if (!('incomingRequestContext' in options)) return super.process(options);
    if (this.unavailableFor.has(options.context)) return {};
    const operation = this.operation(options.request.query!);
    const representations = options.request.variables?.representations;
    const place = (error: TwinxError, errorPath?: unknown): TwinxError => {
      error.responsePath = placeError(operation, options.pathInIncomingRequest ?? [], errorPath, Array.isArray(representations) ? representations.length : 0);
      return error;
    };
    const fromSubgraph = (errors: readonly GraphQLFormattedError[]) => errors.map((error) => place(this.fromSubgraph(error), error.path));
    try {
      const response = await super.process(options);
      return response.errors ? { ...response, errors: fromSubgraph(response.errors) } : response;
    } catch (error) {
      const answered = answeredErrors(error);
      if (answered) return { errors: fromSubgraph(answered) };
      const failure = this.failure(error);
      if (failure.code === ErrorCode.UNAVAILABLE) {
        // Fetches of one request may run at once: the first to fail says it.
        if (this.unavailableFor.has(options.context)) return {};
        this.unavailableFor.add(options.context);
      }
      return { errors: [place(failure)] };
    }
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

  /** A subgraph's error in the catalogue's terms: its own code, message and plain details if it keeps its code, else `INTERNAL`. */
  private fromSubgraph(error: GraphQLFormattedError): TwinxError {
    const { subgraph, logger } = this.options;
    const code = error.extensions?.code;
    if (SUBGRAPH_CODES.has(code)) {
      const { org, tokenKind, ...details } = detailsOf(error.extensions);
      // A member speaks of its own tokens only: it may not say another organization's grant was
      // revoked (clients name that organization to their users). The directory speaks for the network.
      const named = org === subgraph || subgraph === DIRECTORY_SUBGRAPH ? { org, tokenKind } : {};
      return new TwinxError(code as ErrorCode, String(error.message).slice(0, MAX_TEXT), { ...details, ...named, subgraph });
    }
    logger.warn({ subgraph, error }, 'a subgraph failed its part of an answer');
    return new TwinxError(ErrorCode.INTERNAL, `${subgraph} could not answer.`, { subgraph });
  }

  /** A subgraph that cannot be reached or does not answer in time; or an answer refused here. */
  private failure(error: unknown): TwinxError {
    const { subgraph, logger } = this.options;
    if (error instanceof TwinxError) return error;
    logger.warn({ subgraph, err: error }, 'a subgraph is unavailable');
    const timeout = (error as { type?: unknown } | null)?.type === 'request-timeout';
    return new TwinxError(ErrorCode.UNAVAILABLE, `${subgraph} is unavailable: ${timeout ? 'no answer in time' : 'cannot be reached'}.`, { subgraph });
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
