// The floors under a request through a gateway, for bench/network.ts: Apollo Gateway on the
// supergraph the twinx gateway composed, and nothing of twinx's: no token verified, no limit
// applied, no request routed, no answer checked. TWINX_FLOOR says which:
//  - `gateway`: Apollo Gateway's executor behind a bare HTTP server, each operation parsed and
//    validated once: what @apollo/gateway and the extra hop cost at the least;
//  - `server`: Apollo Server in front of it, as the twinx gateway has it (its unused features off)
//    without twinx's plugins: what Apollo's stack costs at the least.
// Each subgraph is sent the caller's token headers as they came, over undici (the twinx gateway's
// link), and its answer is taken as it is.
//   TWINX_FLOOR=gateway|server TWINX_SUPERGRAPH=<file> PORT=<port> node <this, compiled>
import { ApolloGateway, type GraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { getOperationAST, parse, validate, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { text } from 'node:stream/consumers';
import { Pool } from 'undici';
import { apolloServerOptions } from '../lib/graphql/apollo-features.ts';
import { GRANTS_HEADER } from '../lib/tokens/headers.ts';

const { TWINX_FLOOR: FLOOR, TWINX_SUPERGRAPH: SUPERGRAPH, PORT } = process.env;
if ((FLOOR !== 'gateway' && FLOOR !== 'server') || !SUPERGRAPH || !PORT)
  throw new TypeError('TWINX_FLOOR (gateway or server), TWINX_SUPERGRAPH and PORT are needed');
// As in the twinx gateway (gateway/server.ts): no usage reported to Apollo.
process.env.APOLLO_TELEMETRY_DISABLED = 'true';

interface Context {
  tokens: Record<string, string>;
}

type Executor = Awaited<ReturnType<ApolloGateway['load']>>['executor'];
type Listener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

class Forward implements GraphQLDataSource<Context> {
  private readonly pool: Pool;
  private readonly path: string;

  constructor(url: string) {
    this.pool = new Pool(new URL(url).origin, { connections: 64 });
    this.path = new URL(url).pathname;
  }

  async process({ request, context }: GraphQLDataSourceProcessOptions<Context>) {
    const body = JSON.stringify({ query: request.query, variables: request.variables, operationName: request.operationName });
    const headers = { 'content-type': 'application/json', ...('tokens' in context ? context.tokens : {}) };
    const response = await this.pool.request({ path: this.path, method: 'POST', headers, body });
    return (await response.body.json()) as Awaited<ReturnType<GraphQLDataSource['process']>>;
  }
}

const tokensOf = (req: IncomingMessage): Record<string, string> =>
  Object.fromEntries(['authorization', GRANTS_HEADER].flatMap((name) => (typeof req.headers[name] === 'string' ? [[name, req.headers[name]]] : [])));

const gateway = new ApolloGateway({ supergraphSdl: readFileSync(SUPERGRAPH, 'utf8'), buildService: ({ url }) => new Forward(url!) });

/** Apollo Gateway's executor, each operation parsed and validated once. */
async function gatewayAlone(): Promise<Listener> {
  const { schema, executor } = await gateway.load();
  const operations = new Map<string, { document: DocumentNode; operation: OperationDefinitionNode }>();
  return async (req, res) => {
    const { query, variables } = JSON.parse(await text(req)) as { query: string; variables?: Record<string, unknown> };
    let known = operations.get(query);
    if (known === undefined) {
      const document = parse(query);
      const operation = getOperationAST(document);
      const errors = validate(schema, document);
      if (errors.length > 0 || !operation) throw new Error(errors.length > 0 ? errors.join('\n') : 'not one operation');
      operations.set(query, (known = { document, operation }));
    }
    const result = await executor({
      request: { query, variables },
      document: known.document,
      operation: known.operation,
      operationName: known.operation.name?.value ?? null,
      queryHash: query,
      schema,
      context: { tokens: tokensOf(req) },
      logger: console,
      metrics: {},
    } as unknown as Parameters<Executor>[0]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
  };
}

/** Apollo Server with Apollo Gateway, as the twinx gateway has them, without twinx's plugins. */
async function withApolloServer(): Promise<Listener> {
  const apollo = new ApolloServer<Context>({ gateway, ...apolloServerOptions<Context>() });
  await apollo.start();
  return async (req, res) => {
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method!, headers, search: '', body: JSON.parse(await text(req)) },
      context: async () => ({ tokens: tokensOf(req) }),
    });
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    res.end(response.body.kind === 'complete' ? response.body.string : '');
  };
}

const listener = FLOOR === 'server' ? await withApolloServer() : await gatewayAlone();
// A request the bench gets wrong is answered with what went wrong, and the floor keeps serving.
const server = createServer((req, res) =>
  listener(req, res).catch((error: unknown) => res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error))),
);
server.listen(Number(PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
