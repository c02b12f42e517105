import type { GraphQLFormattedError } from 'graphql';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: GraphQLFormattedError[];
}

/** A GraphQL request over real HTTP. */
export async function graphql<T = any>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

/** The `extensions.code` of every error, for assertions. */
export function codes(response: GraphQLResponse): unknown[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}

/** A raw request body whose variable `v` nests 3.8 million arrays (7.6 MB): what a hostile caller sends. */
export function deeplyNestedBody(query: string): string {
  const depth = 3_800_000;
  return `{"query":${JSON.stringify(query)},"variables":{"v":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
}

/**
 * Runs a hostile request and, while it runs, a health check of the service at `serviceUrl`: the
 * request's result and how long each took (ms). Bounds asserted on them must be generous (a
 * loaded machine); without the limits under test these requests take seconds.
 */
export async function whileHealthChecked<T>(serviceUrl: string, hostile: () => Promise<T>) {
  const started = performance.now();
  const refused = hostile().then((result) => ({ result, ms: performance.now() - started }));
  const health = fetch(serviceUrl.replace('/graphql', '/healthz')).then((response) => ({ status: response.status, ms: performance.now() - started }));
  return { ...(await refused), health: await health };
}
