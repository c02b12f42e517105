import { Kind, parse } from 'graphql';

/**
 * Whether a request body asks for nothing but the subgraph's SDL (`{ _service { sdl } }`), which
 * gateways fetch to compose the network: the contract between organizations, public by nature.
 */
export function isServiceSdlQuery(body: unknown): boolean {
  const query = (body as { query?: unknown } | null)?.query;
  if (typeof query !== 'string' || query.length > 1000) return false;
  try {
    const definitions = parse(query).definitions;
    return definitions.every(
      (definition) =>
        definition.kind === Kind.OPERATION_DEFINITION &&
        definition.operation === 'query' &&
        definition.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && ['_service', '__typename'].includes(selection.name.value)),
    );
  } catch {
    return false;
  }
}

/** The query gateways send a subgraph for its SDL. */
const SERVICE_SDL_QUERY = JSON.stringify({ query: '{ _service { sdl } }' });
/** Largest answer read for a member's SDL (the template is about 10 KiB): a member cannot make gateways read without end. */
const MAX_SDL_ANSWER_BYTES = 1024 * 1024;

/** Fetches the SDL a subgraph serves (`_service { sdl }`); throws when it does not answer with one in time. */
export async function fetchServiceSdl(url: string, timeoutMs: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: SERVICE_SDL_QUERY,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    // fetch says only "fetch failed"; the cause says why (ECONNREFUSED…).
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    throw new Error(`${url}: ${typeof cause === 'string' ? cause : error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.length;
    if (size > MAX_SDL_ANSWER_BYTES) throw new Error(`${url}: the SDL answer exceeds ${MAX_SDL_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  const sdl = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: { _service?: { sdl?: unknown } } } | null)?.data?._service?.sdl;
  if (typeof sdl !== 'string' || sdl === '') throw new Error(`${url}: no SDL in the answer`);
  return sdl;
}
