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
