import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GraphQLFormattedError } from 'graphql';
import { errors, Pool } from 'undici';
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
  /**
   * Whether identical queries in flight at once share one request: same operation, variables
   * and forwarded headers (every token, the directory's `twinx-composed`). Mutations never do.
   * @default true
   */
  dedupe?: boolean;
  /** Bytes of the subgraph's answers read at once, all requests together. @default MAX_ANSWER_BYTES_IN_FLIGHT */
  maxBytesInFlight?: number;
}

type SubgraphResponse = Awaited<ReturnType<GraphQLDataSource['process']>>;

/** A subgraph's answer as it came: each caller reads its own copy. */
interface Answer {
  status: number;
  text: string;
}

/** Parsed subgraph operations kept per subgraph. The query planner writes few distinct ones; the cap keeps it so. */
const MAX_OPERATIONS = 1000;

/**
 * Codes a subgraph's error keeps: the catalogue's, but what only the gateway says of members
 * (`FOREIGN_ID`), and `INTERNAL`, said in the gateway's words.
 */
const SUBGRAPH_CODES = new Set<unknown>(Object.values(ErrorCode).filter((code) => code !== ErrorCode.FOREIGN_ID && code !== ErrorCode.INTERNAL));

/** Longest message or detail taken from a subgraph's error. */
const MAX_TEXT = 500;

/** Largest answer taken from a subgraph: a member streaming more is refused before it fills the gateway's memory. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/**
 * Bytes of one subgraph's answers being read at once: past it, the answer whose part crossed it is
 * dropped (that subgraph `UNAVAILABLE` for its request), so that a member answering many requests
 * at once with as much as it may (64 connections of 32 MiB) is not read whole meanwhile.
 */
export const MAX_ANSWER_BYTES_IN_FLIGHT = 128 * 1024 * 1024;

/** Answers of one subgraph being read hold more than it may have in flight. */
class TooMuchInFlight extends Error {}

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
 * whole, a member's answer that says what it was not asked or speaks for another organization
 * (`FOREIGN_ID`, answers.ts); gives up on a
 * subgraph after the timeout. A subgraph's errors reach the caller with their code (one of the
 * catalogue's), message and path, placed within that subgraph's part of the answer; a subgraph
 * that cannot be reached or does not answer in time is one `UNAVAILABLE` error at its part.
 * Identical queries in flight at once (`dedupe`) make one request; each caller reads its own copy
 * of the answer and has it checked and its errors placed for itself.
 */
export class SubgraphDataSource implements GraphQLDataSource<GatewayContext> {
  private readonly operations = new Map<string, SubgraphOperation>();
  /** Requests (by context) that found this subgraph unavailable: it is not asked again for them, nor said twice. */
  private readonly unavailableFor = new WeakSet<object>();
  /** Keep-alive connections to the subgraph: undici's request API, measured faster than node-fetch and fetch (bench/gateway.ts). */
  private readonly pool: Pool;
  private readonly path: string;
  /**
   * Queries in flight, by headers, then by body (this subgraph has one URL): a body is as long as
   * its request (an entity fetch's representations), so it is looked up as it is, never copied into a longer key.
   */
  private readonly inFlight = new Map<string, Map<string, Promise<Answer>>>();
  /** Bytes of answers being read now. */
  private reading = 0;

  constructor(private readonly options: SubgraphDataSourceOptions) {
    const { origin, pathname, search } = new URL(options.url);
    // Each request is bounded as a whole by its signal (`fetch`): no timeout of its steps is needed besides.
    this.pool = new Pool(origin, { connections: 64, maxResponseSize: MAX_ANSWER_BYTES });
    this.path = pathname + search;
  }

  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<SubgraphResponse> {
    const { request, context } = options;
    if (this.unavailableFor.has(context)) return {};
    const operation = this.operation(request.query!);
    const representations = request.variables?.representations;
    const fetchPath = 'incomingRequestContext' in options ? (options.pathInIncomingRequest ?? []) : [];
    const place = (error: TwinxError, errorPath?: unknown): TwinxError => {
      error.responsePath = placeError(operation, fetchPath, errorPath, Array.isArray(representations) ? representations.length : 0);
      return error;
    };
    const fromSubgraph = (errors: readonly GraphQLFormattedError[]) => errors.map((error) => place(this.fromSubgraph(error), error.path));
    try {
      const body = JSON.stringify({ query: request.query, variables: request.variables, operationName: request.operationName });
      // Only a query's fetches are shared: a mutation's later fetches read what it wrote.
      const shareable = 'incomingRequestContext' in options && options.incomingRequestContext.operation?.operation === 'query';
      const answer = await this.send(body, this.headers(context), shareable && operation.definition.operation === 'query');
      const response = this.read(answer);
      if (answer.status < 200 || answer.status >= 300) {
        // A subgraph refuses a request (a token, a limit) with its errors and another status.
        if (Array.isArray(response.errors) && response.errors.length > 0) return { errors: fromSubgraph(response.errors) };
        throw new Error(`${this.options.subgraph} answered HTTP ${answer.status}`);
      }
      this.check(operation, response);
      return response.errors ? { ...response, errors: fromSubgraph(response.errors) } : response;
    } catch (error) {
      const failure = this.failure(error);
      if (failure.code === ErrorCode.UNAVAILABLE) {
        // Fetches of one request may run at once: the first to fail says it.
        if (this.unavailableFor.has(context)) return {};
        this.unavailableFor.add(context);
      }
      return { errors: [place(failure)] };
    }
  }

  /** The headers sent with a request: the tokens the subgraph's organization issued, and to the directory the composed members. */
  private headers(context: GraphQLDataSourceProcessOptions<GatewayContext>['context']): Record<string, string> {
    const { subgraph, network } = this.options;
    const tokens: PresentedToken[] = 'tokens' in context && context.tokens ? context.tokens : [];
    const mine = subgraph === DIRECTORY_SUBGRAPH ? tokens : tokens.filter((token) => token.org === subgraph);
    const headers = { 'content-type': 'application/json', ...tokenHeaders(mine.map((token) => token.token)) };
    return subgraph === DIRECTORY_SUBGRAPH ? { ...headers, [COMPOSED_HEADER]: network.composedSlugs() } : headers;
  }

  /** Closes its connections once the requests under way are answered. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Sends a request, or joins the identical one in flight when it may be shared. */
  private send(body: string, headers: Record<string, string>, shareable: boolean): Promise<Answer> {
    if (!shareable || this.options.dedupe === false) return this.fetch(body, headers);
    // The headers are made in one order (`headers`): the same ones give the same key.
    const caller = JSON.stringify(headers);
    const bodies = this.inFlight.get(caller) ?? new Map<string, Promise<Answer>>();
    let answer = bodies.get(body);
    if (answer === undefined) {
      answer = this.fetch(body, headers).finally(() => {
        bodies.delete(body);
        if (bodies.size === 0) this.inFlight.delete(caller);
      });
      bodies.set(body, answer);
      this.inFlight.set(caller, bodies);
    }
    return answer;
  }

  private async fetch(body: string, headers: Record<string, string>): Promise<Answer> {
    // The whole exchange within the timeout: a member dripping its answer a byte at a time is not
    // waited for. Its timer ends with the exchange (AbortSignal.timeout's would fire seconds after
    // every answer, and keep its request's signal until then: 1% of the gateway's CPU under load).
    const exchange = new AbortController();
    const timer = setTimeout(() => exchange.abort(new DOMException('no answer in time', 'TimeoutError')), this.options.timeoutMs);
    const limit = this.options.maxBytesInFlight ?? MAX_ANSWER_BYTES_IN_FLIGHT;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      const response = await this.pool.request({ path: this.path, method: 'POST', headers, body, signal: exchange.signal });
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        this.reading += chunk.length;
        if (this.reading > limit) throw new TooMuchInFlight();
        chunks.push(chunk);
      }
      return { status: response.statusCode, text: Buffer.concat(chunks).toString('utf8') };
    } finally {
      clearTimeout(timer);
      this.reading -= size;
    }
  }

  /** An answer as a GraphQL response, read anew for each caller. */
  private read({ text }: Answer): SubgraphResponse {
    const response: unknown = JSON.parse(text);
    if (typeof response !== 'object' || response === null || Array.isArray(response))
      throw new Error(`${this.options.subgraph} did not answer a GraphQL response`);
    return response as SubgraphResponse;
  }

  /** Refuses a member's answer that says what it was not asked or speaks for another organization, or comes from a member no longer composed. */
  private check(operation: SubgraphOperation, response: SubgraphResponse): void {
    const { subgraph, network, logger } = this.options;
    if (subgraph === DIRECTORY_SUBGRAPH || response.data === null || response.data === undefined) return;
    const answers = network.answersOf(subgraph);
    if (answers === undefined) throw new TwinxError(ErrorCode.UNAVAILABLE, `${subgraph} is no longer in the network graph.`, { subgraph });
    const problem = answers.problemIn(operation, response.data);
    if (problem === undefined) return;
    logger.warn(
      { subgraph, problem: problem.what, path: problem.path.join('.') },
      'refused a member answer that says what it was not asked or speaks for another organization',
    );
    throw new TwinxError(ErrorCode.FOREIGN_ID, `${subgraph}'s answer was refused: it does not keep to what it was asked, ${subgraph}'s own twins and types.`, {
      subgraph,
    });
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
    if (error instanceof errors.ResponseExceededMaxSizeError)
      return new TwinxError(ErrorCode.UNAVAILABLE, `${subgraph} is unavailable: its answer was larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB.`, {
        subgraph,
      });
    if (error instanceof TooMuchInFlight)
      return new TwinxError(ErrorCode.UNAVAILABLE, `${subgraph} is unavailable: its answers being read hold too much.`, { subgraph });
    // The whole exchange has the timeout (the request's signal); connecting has undici's own too.
    const timeout = (error instanceof Error && error.name === 'TimeoutError') || error instanceof errors.ConnectTimeoutError;
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
