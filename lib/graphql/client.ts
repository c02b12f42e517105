/** What a twinx GraphQL endpoint answered to one operation: its HTTP status, data and first error. */
export interface GraphQLAnswer<T> {
  status: number;
  data: T | null;
  error: { message: string; code: string | undefined } | null;
}

/** Runs one operation on a twinx GraphQL endpoint (an organization's, the gateway's) with a bearer token. */
export async function postGraphQL<T>(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<GraphQLAnswer<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json().catch(() => null)) as { data?: T | null; errors?: { message: string; extensions?: { code?: string } }[] } | null;
  const [error] = body?.errors ?? [];
  return { status: response.status, data: body?.data ?? null, error: error ? { message: error.message, code: error.extensions?.code } : null };
}
