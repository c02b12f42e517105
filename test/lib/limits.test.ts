import { ApolloServer } from '@apollo/server';
import { buildSchema, getIntrospectionQuery, getOperationAST, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../lib/errors.ts';
import { DEFAULT_QUERY_LIMITS, operationCost, operationDepth, operationLimitError, queryLimitsPlugin, sourceLimitError } from '../../lib/graphql/limits.ts';
import { twinQueryLimits } from '../../lib/graphql/twin-types.ts';

const typeDefs = /* GraphQL */ `
  type Twin {
    id: ID!
    name: String!
    suppliedBy: [Twin!]!
    supplies(first: Int): [Twin!]!
  }
  type Query {
    twins(first: Int): [Twin!]!
    twin(id: ID!): Twin
  }
`;
const schema = buildSchema(typeDefs);
const cost = { defaultListSize: 20 };

const depth = (query: string, operationName?: string) => operationDepth(parse(query), operationName);
const costOf = (query: string, variables?: Record<string, unknown>) => operationCost(schema, parse(query), variables, cost);

describe('operationDepth', () => {
  it('counts nested fields on the deepest path', () => {
    expect(depth('{ twins { id } }')).toBe(2);
    expect(depth('{ twin(id: "a") { id suppliedBy { name supplies { suppliedBy { id } } } } }')).toBe(5);
    expect(depth('query A { twins { id } } query B { twins { suppliedBy { id } } }', 'B')).toBe(3);
  });

  it('follows fragment spreads and inline fragments without adding levels', () => {
    const query = `
      { twins { ...A ... on Twin { id } } }
      fragment A on Twin { suppliedBy { ...B } }
      fragment B on Twin { ... { suppliedBy { id } } }
    `;
    expect(depth(query)).toBe(4);
  });

  it('ignores introspection fields', () => {
    expect(depth('{ __typename }')).toBe(0);
    expect(depth('{ twins { __typename id } }')).toBe(2);
    expect(depth('{ __schema { types { fields { type { ofType { ofType { name } } } } } } twins { id } }')).toBe(2);
    expect(depth('{ __type(name: "Twin") { fields { type { name } } } }')).toBe(0);
  });

  it('terminates on fragment cycles and measures a shared fragment once', () => {
    expect(depth('{ twins { ...A } } fragment A on Twin { suppliedBy { ...B } } fragment B on Twin { supplies { ...A } }')).toBe(3);
    // 60 levels, each spreading the next twice: 2^60 paths, measured in linear time.
    const fragments = Array.from({ length: 60 }, (_, i) => `fragment F${i} on Twin { suppliedBy { ...F${i + 1} } supplies { ...F${i + 1} } }`);
    const query = `{ twins { ...F0 } } ${fragments.join(' ')} fragment F60 on Twin { id }`;
    expect(depth(query)).toBe(62);
  });
});

describe('operationCost', () => {
  it('multiplies by a literal first', () => {
    expect(costOf('{ twins(first: 10) { id name } }')).toBe(1 + 10 * 2);
    expect(costOf('{ twins(first: 10) { id supplies(first: 5) { id } } }')).toBe(1 + 10 * (1 + 1 + 5 * 1));
  });

  it('multiplies by a variable first, its default, or else the default list size', () => {
    expect(costOf('query ($n: Int) { twins(first: $n) { id } }', { n: 50 })).toBe(1 + 50);
    expect(costOf('query ($n: Int = 7) { twins(first: $n) { id } }', {})).toBe(1 + 7);
    expect(costOf('query ($n: Int = 7) { twins(first: $n) { id } }', { n: null })).toBe(1 + 20);
    expect(costOf('query ($n: Int) { twins(first: $n) { id } }')).toBe(1 + 20);
    expect(costOf('query ($n: Int) { twins(first: $n) { id } }', { n: 'many' })).toBe(1 + 20);
  });

  it('uses the default list size for lists without first', () => {
    expect(costOf('{ twins { id } }')).toBe(1 + 20);
    expect(costOf('{ twin(id: "a") { id suppliedBy { id suppliedBy { id } } } }')).toBe(1 + (1 + (1 + 20 * (1 + (1 + 20 * 1)))));
  });

  it('counts fragments per spread, narrows types, and counts __typename', () => {
    const query = `
      { twins(first: 2) { __typename ...T ...T ... on Twin { suppliedBy { id } } } }
      fragment T on Twin { supplies(first: 3) { id } }
    `;
    expect(costOf(query)).toBe(1 + 2 * (1 + 2 * (1 + 3) + (1 + 20)));
  });

  it('counts every alias, introspection fields included, their lists once', () => {
    const aliases = (field: string, n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
    expect(costOf(aliases('__typename', 1000))).toBe(1000);
    expect(costOf(aliases('__schema { types { name } }', 100))).toBe(100 * 3);
    expect(costOf('{ __type(name: "Twin") { fields { name type { name } } } }')).toBe(1 + (1 + 1 + (1 + 1)));
    expect(costOf('{ __schema { ...S } } fragment S on __Schema { types { fields { name } } }')).toBe(1 + (1 + (1 + 1)));
    // What GraphiQL, Sandbox and codegen send passes the default limits.
    expect(operationCost(schema, parse(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true })), {}, DEFAULT_QUERY_LIMITS)).toBeLessThan(
      DEFAULT_QUERY_LIMITS.maxCost,
    );
  });

  it('sizes a list by listSize where it has a rule, else by first', () => {
    const listSize = (field: { name: string }, argument: (name: string) => unknown) => (field.name === 'supplies' ? Number(argument('first')) * 2 : undefined);
    const query = parse('query ($n: Int) { twins(first: 3) { supplies(first: $n) { id } } }');
    expect(operationCost(schema, query, { n: 5 }, { ...cost, listSize })).toBe(1 + 3 * (1 + 10 * 1));
    // No usable size: the default list size.
    expect(operationCost(schema, query, {}, { ...cost, listSize })).toBe(1 + 3 * (1 + 20 * 1));
  });

  it('prices a field itself by fieldCost where it has a rule, in the lists it sits in', () => {
    const fieldCost = (field: { name: string }, argument: (name: string) => unknown) =>
      field.name === 'supplies' ? Number(argument('first')) * 100 : undefined;
    const query = parse('query ($n: Int) { twins(first: 3) { id supplies(first: $n) { id } } twin(id: "a") { name } }');
    expect(operationCost(schema, query, { n: 2 }, { ...cost, fieldCost })).toBe(1 + 3 * (1 + (200 + 2 * 1)) + (1 + 1));
  });

  it('saturates instead of overflowing', () => {
    const huge = costOf('query ($n: Int) { twins(first: $n) { supplies(first: 0) { supplies(first: $n) { supplies(first: $n) { id } } } } }', { n: 1e300 });
    expect(huge).toBe(Number.MAX_SAFE_INTEGER);
    expect(costOf('query ($n: Int) { twins(first: $n) { supplies(first: $n) { id } } }', { n: 1e300 })).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('prices a Relay connection page by its first, its edges once', () => {
    const connections = buildSchema(`
      type Reading { value: Float! }
      type ReadingEdge { cursor: String! node: Reading! }
      type PageInfo { hasNextPage: Boolean! }
      type ReadingConnection { edges: [ReadingEdge!]! pageInfo: PageInfo! }
      type Query { telemetry(first: Int! = 100): ReadingConnection }
    `);
    const query = parse(
      'query ($n: Int!) { telemetry(first: $n) { ...Page } } fragment Page on ReadingConnection { edges { node { value } } pageInfo { hasNextPage } }',
    );
    expect(operationCost(connections, query, { n: 10 }, cost)).toBe(1 + 10 * (1 + (1 + 1) + (1 + 1)));
    expect(operationCost(connections, parse('{ telemetry { edges { cursor } } }'), {}, cost)).toBe(1 + 100 * (1 + 1));
  });
});

describe('sourceLimitError', () => {
  it('refuses a document of more than maxTokens tokens, reading no further', () => {
    expect(sourceLimitError('{ twins { id } }', { maxTokens: 6 })).toBeUndefined();
    expect(sourceLimitError('{ twins { id } }', { maxTokens: 5 })?.extensions).toEqual({ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'tokens', limit: 5 });
    // What follows the limit is never read: a lexing error past it does not matter.
    expect(sourceLimitError('{ a b c d e f g h i j k l m n o p q r s t u v w x y z \u0000', { maxTokens: 10 })?.extensions.kind).toBe('tokens');
    // A document that does not lex is the parser's to refuse.
    expect(sourceLimitError('{ "unterminated', { maxTokens: 10 })).toBeUndefined();
  });
});

describe('limits', () => {
  it('are refused when invalid', () => {
    expect(() => queryLimitsPlugin({ maxTokens: 0.5 })).toThrow(RangeError);
    expect(() => queryLimitsPlugin({ maxDepth: -1 })).toThrow(RangeError);
    expect(() => queryLimitsPlugin({ maxCost: 10, defaultListSize: 1.5 })).toThrow(RangeError);
  });
});

describe('queryLimitsPlugin in Apollo Server', () => {
  let resolved = 0;
  const twins = (_: unknown, args: { first?: number | null }) => {
    resolved += 1;
    return Array.from({ length: args.first ?? 2 }, (_, i) => ({ id: String(i), name: `twin ${i}` }));
  };
  const server = new ApolloServer({
    typeDefs,
    resolvers: { Query: { twins }, Twin: { suppliedBy: () => [], supplies: () => [] } },
    plugins: [queryLimitsPlugin({ maxDepth: 3, maxCost: 100, defaultListSize: 20 })],
  });
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  async function run(query: string, variables?: Record<string, unknown>, operationName?: string) {
    const response = await server.executeOperation({ query, variables, operationName });
    if (response.body.kind !== 'single') throw new Error('expected a single result');
    return { status: response.http.status, ...response.body.singleResult };
  }

  it('executes operations within the limits', async () => {
    const result = await run('query ($n: Int) { twins(first: $n) { id suppliedBy { id } } }', { n: 3 });
    expect(result.errors).toBeUndefined();
    expect(result.status).toBeUndefined();
    expect(result.data).toEqual({ twins: [0, 1, 2].map((i) => ({ id: String(i), suppliedBy: [] })) });
  });

  it('rejects too deep an operation with 400 before resolving anything', async () => {
    resolved = 0;
    const result = await run('{ twins(first: 1) { ...F } } fragment F on Twin { suppliedBy { supplies(first: 1) { id } } }');
    expect(resolved).toBe(0);
    expect(result.status).toBe(400);
    expect(result.data).toBeUndefined();
    expect(result.errors).toEqual([
      {
        message: 'Query depth 4 exceeds the limit of 3.',
        locations: [{ line: 1, column: 1 }],
        extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'depth', limit: 3, actual: 4 },
      },
    ]);
  });

  it('rejects too costly an operation given its variables with 400', async () => {
    resolved = 0;
    const result = await run('query Many($n: Int) { twins(first: $n) { id } }', { n: 1000 });
    expect(resolved).toBe(0);
    expect(result.status).toBe(400);
    expect(result.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'cost', limit: 100, actual: 1001 }]);
    expect(result.errors?.[0]?.message).toBe('Query cost 1001 exceeds the limit of 100.');
  });

  it('measures a query asked again as it did the first time: by its variables, or as it stands when it has none', async () => {
    const costly = 'query Many($n: Int) { twins(first: $n) { id } }';
    expect((await run(costly, { n: 5 })).errors).toBeUndefined();
    expect((await run(costly, { n: 1000 })).status).toBe(400);
    expect((await run(costly, { n: 5 })).errors).toBeUndefined();
    const deep = '{ twins(first: 1) { suppliedBy { supplies(first: 1) { id } } } }';
    resolved = 0;
    for (let i = 0; i < 2; i++) expect((await run(deep)).errors?.map((error) => error.extensions?.kind)).toEqual(['depth']);
    expect(resolved).toBe(0);
    const fine = '{ twins(first: 3) { id } }';
    for (let i = 0; i < 2; i++) expect((await run(fine)).data).toEqual({ twins: [0, 1, 2].map((i) => ({ id: String(i) })) });
    // One document, two operations: each has its own verdict, whichever was asked first.
    const both = 'query Few { twins(first: 3) { id } } query Many { twins(first: 1000) { id } }';
    const named = async (operationName: string) => (await run(both, undefined, operationName)).status;
    expect([await named('Few'), await named('Many'), await named('Few'), await named('Many')]).toEqual([undefined, 400, undefined, 400]);
  });

  it('answers the introspection query clients send, and refuses introspection asked many times over with aliases', async () => {
    const clients = parse(getIntrospectionQuery());
    expect(operationLimitError(schema, clients, getOperationAST(clients)!, {}, DEFAULT_QUERY_LIMITS)).toBeUndefined();
    // A thousand copies of the schema in one request would cost the server far more than the price
    // the cost model gives introspection (its lists once): aliases there are refused, at any depth,
    // through fragments too; without them each introspection field answers once.
    const copies = Array.from({ length: 1000 }, (_, i) => `s${i}: __schema { ...F }`).join(' ');
    const bombs = [
      `{ ${copies} } fragment F on __Schema { types { name fields { name } } }`,
      '{ __schema { all: types { name } again: types { name } } }',
      '{ ...Q } fragment Q on Query { __type(name: "Twin") { fields { n: name } } }',
      '{ one: __type(name: "Twin") { name } two: __type(name: "Query") { name } }',
    ];
    for (const query of bombs) {
      const result = await run(query);
      expect(result.status).toBe(400);
      expect(result.data).toBeUndefined();
      expect(result.errors?.map((error) => error.extensions)).toEqual([{ code: ErrorCode.QUERY_TOO_COMPLEX, kind: 'introspection', limit: 0 }]);
    }
    // Aliases elsewhere, __typename's included, are priced as ever.
    expect((await run('{ a: twins(first: 1) { id t: __typename } }')).errors).toBeUndefined();
  });

  it('checks only the operation that runs', async () => {
    const query = 'query Small { twins(first: 1) { id } } query Big { twins(first: 1000) { id } }';
    const small = await server.executeOperation({ query, operationName: 'Small' });
    expect(small.http.status).toBeUndefined();
    const big = await server.executeOperation({ query, operationName: 'Big' });
    expect(big.http.status).toBe(400);
  });
});

describe('twinQueryLimits', () => {
  const federated = buildSchema(`
    type Bucket { avg: Float count: Int }
    type AcmeTwin { id: ID! aggregates(metric: String!, from: String!, to: String!, bucketSeconds: Int!): [Bucket!] }
    union _Entity = AcmeTwin
    type Query { _entities(representations: [String!]!): [_Entity]! twin: AcmeTwin }
  `);
  const limits = twinQueryLimits();
  const cost = (query: string, variables?: Record<string, unknown>) => operationCost(federated, parse(query), variables, limits);

  it('prices aggregates by the buckets they compute', () => {
    const aggregates = (to: string, bucketSeconds: number) =>
      cost(`{ twin { aggregates(metric: "t", from: "2026-01-01T00:00:00Z", to: "${to}", bucketSeconds: ${bucketSeconds}) { avg count } } }`);
    expect(aggregates('2026-01-01T01:00:00Z', 60)).toBe(1 + 1 + 60 * 2);
    expect(aggregates('2026-01-02T00:00:00Z', 1)).toBe(1 + 1 + 86_400 * 2);
    // Ranges the resolver refuses are priced by the default list size.
    expect(aggregates('not a date', 60)).toBe(1 + 1 + 50 * 2);
  });

  it('prices _entities by the representations the gateway sends', () => {
    const query = 'query ($r: [String!]!) { _entities(representations: $r) { ... on AcmeTwin { id } } }';
    expect(cost(query, { r: Array.from({ length: 500 }, (_, i) => `acme:t-${i}`) })).toBe(1 + 500 * 1);
    expect(cost(query, { r: ['acme:t-1'] })).toBe(1 + 1);
  });

  it('keeps the defaults for what the settings leave out', () => {
    expect(twinQueryLimits({ maxDepth: 3, maxCost: undefined })).toMatchObject({ maxTokens: 10_000, maxDepth: 3, maxCost: 20_000, defaultListSize: 50 });
  });
});
