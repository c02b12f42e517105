import type { ApolloServer, BaseContext, HTTPGraphQLRequest } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import cors from 'cors';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { ErrorCode, fromPrismaError } from './errors.ts';
import { sourceLimitError, type QueryLimits } from './graphql/limits.ts';
import type { Logger } from './logger.ts';

/** A plain HTTP route next to `/graphql` (health, JWKS...). */
export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface GraphQLHandlerOptions<TContext extends BaseContext> {
  /** The server to execute with; asked per request, so that a schema change can swap it. */
  apollo: () => ApolloServer<TContext>;
  /** Builds the per-request context from the request and its parsed body; throwing a `GraphQLError` answers with it. */
  context: (req: IncomingMessage, body: unknown) => Promise<TContext>;
  /** Largest accepted request body in bytes; larger requests get `REQUEST_TOO_LARGE` (413). */
  maxBodyBytes: number;
  /** Query limits; `maxTokens` is checked here, on the query text before it is parsed (the rest by `queryLimitsPlugin`). */
  limits: QueryLimits;
  /** Deepest nesting of arrays and objects accepted in a JSON body; deeper ones get `BAD_REQUEST` (400). @default 64 */
  maxJsonDepth?: number;
  /** Other paths served by the same server. */
  routes?: Record<string, Route>;
  /** Serves every path that is neither `/graphql` nor a route. @default a 404 naming `/graphql` */
  fallback?: Route;
  /**
   * Origins (`https://dashboard.example.com`) whose pages may call the service from a browser:
   * they get CORS headers, preflights included; every other origin gets none.
   * @default [] (same origin only)
   */
  corsOrigins?: readonly string[];
  /** Where a request that failed unexpectedly is logged. */
  logger: Logger;
}

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/** Writes an error response in GraphQL's shape, with its stable code. */
export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}

/** A body longer than its reader takes. */
export class BodyTooLarge extends Error {}

/** A body (a request's, an answer's) read whole as text; `BodyTooLarge` past `limit` bytes (`<what> exceeds <limit> bytes`), reading no further. */
export async function readText(body: AsyncIterable<Buffer>, limit: number, what = 'the body'): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge(`${what} exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * GETs `url` and reads its JSON answer within `timeoutMs`, refused past `maxBytes` (a redirect is
 * not followed): what another organization serves can make its reader neither wait nor hold without end.
 */
export async function getJson(url: string | URL, timeoutMs: number, maxBytes: number): Promise<unknown> {
  const response = await request(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (response.statusCode < 200 || response.statusCode >= 300) {
    await response.body.dump();
    const { location } = response.headers;
    throw new Error(`${String(url)}: HTTP ${response.statusCode}${typeof location === 'string' ? ` (to ${location}, not followed)` : ''}`);
  }
  return JSON.parse(await readText(response.body, maxBytes, `${String(url)}: the answer`));
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLarge();
  return readText(req as AsyncIterable<Buffer>, limit);
}

/**
 * Whether JSON text nests arrays and objects deeper than `max`, found in one pass that keeps no
 * stack: deep nesting is refused before `JSON.parse` (and everything after it) spends time on it.
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* backslash */) i++;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) depth--;
  }
  return false;
}

/**
 * Serves Apollo Server on `/graphql` of a plain Node HTTP server, with a body size limit,
 * plus the given routes. No web framework: the services need nothing more.
 */
export function graphqlHandler<TContext extends BaseContext>(options: GraphQLHandlerOptions<TContext>) {
  const origins = new Set(options.corsOrigins);
  // Another origin is passed on untouched (`false`): no CORS header at all, so browsers keep it out.
  const allowOrigins = cors({
    origin: (origin, allow) => allow(null, origin !== undefined && origins.has(origin) && origin),
    methods: ['GET', 'POST'],
    maxAge: 600,
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // The origin is decided at once (no callback waits): the middleware answers a preflight, or calls next.
    let preflight = true;
    allowOrigins(req, res, () => (preflight = false));
    if (preflight) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = options.routes?.[url.pathname];
    if (route) return route(req, res);
    if (url.pathname !== '/graphql') {
      if (options.fallback) return options.fallback(req, res);
      return sendError(res, 404, ErrorCode.BAD_REQUEST, `No route ${url.pathname}; GraphQL is served on /graphql.`);
    }
    const maxJsonDepth = options.maxJsonDepth ?? 64;
    let body: unknown;
    if (req.method !== 'POST') {
      // A GET request carries its JSON in the URL: bounded the same way as a body.
      for (const name of ['variables', 'extensions']) {
        const text = url.searchParams.get(name);
        if (text !== null && nestsDeeperThan(text, maxJsonDepth))
          return sendError(res, 400, ErrorCode.BAD_REQUEST, `The request's ${name} nest deeper than ${maxJsonDepth} levels.`);
      }
    } else {
      let text: string;
      try {
        text = await readBody(req, options.maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          // The rest of the body is not read: close the connection after answering.
          res.setHeader('connection', 'close');
          return sendError(res, 413, ErrorCode.REQUEST_TOO_LARGE, `Request body exceeds ${options.maxBodyBytes} bytes.`);
        }
        throw error;
      }
      if (nestsDeeperThan(text, maxJsonDepth)) return sendError(res, 400, ErrorCode.BAD_REQUEST, `The request body nests deeper than ${maxJsonDepth} levels.`);
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        return sendError(res, 400, ErrorCode.BAD_REQUEST, 'The request body is not valid JSON.');
      }
    }
    const query = req.method === 'POST' ? (body as { query?: unknown } | undefined)?.query : url.searchParams.get('query');
    const tooLarge = typeof query === 'string' ? sourceLimitError(query, options.limits) : undefined;
    if (tooLarge) return sendJson(res, 400, { errors: [tooLarge] });
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const request: HTTPGraphQLRequest = { method: req.method?.toUpperCase() ?? 'GET', headers, search: url.search, body };
    const response = await options.apollo().executeHTTPGraphQLRequest({ httpGraphQLRequest: request, context: () => options.context(req, body) });
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
  // A request never takes the process down: a route or a body that fails (its store down, the
  // client gone mid-upload) is answered (503 UNAVAILABLE when the store is down, else 500) or cut.
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await handle(req, res);
    } catch (error) {
      const failure = fromPrismaError(error);
      options.logger.warn({ err: error, path: req.url, code: failure.code }, 'request failed');
      if (res.headersSent) res.destroy();
      else if (failure.code === ErrorCode.UNAVAILABLE) sendError(res, 503, failure.code, failure.message);
      else sendError(res, 500, ErrorCode.INTERNAL, 'Internal error.');
    }
  };
}

/** Starts listening; resolves with the server's `/graphql` URL. */
export async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/graphql`;
}
