import { graphqlSync, Kind, parse, type GraphQLSchema } from 'graphql';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { readText, type Route } from '../http.ts';

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
const SERVICE_SDL_QUERY = '{ _service { sdl } }';
/** Largest answer read for a member's SDL (the template is about 10 KiB): a member cannot make gateways read without end. */
const MAX_SDL_ANSWER_BYTES = 1024 * 1024;
/** Where a subgraph serves its SDL alone (`serviceSdlRoute`), beside its GraphQL path (`/graphql`). */
export const SDL_PATH = '/sdl';

/** The SDL a subgraph schema serves in `_service { sdl }`. */
export function servedSdl(schema: GraphQLSchema): string {
  return (graphqlSync({ schema, source: SERVICE_SDL_QUERY }).data as { _service: { sdl: string } })._service.sdl;
}

/**
 * `GET /sdl`: the subgraph's SDL as `_service { sdl }` serves it (`{ "sdl": … }`), made once, with its hash as
 * ETag: a gateway that has it already (`If-None-Match`) gets 304 and nothing else, so that
 * polling the network's members costs neither side anything while nothing changes.
 */
export function serviceSdlRoute(schema: GraphQLSchema): Route {
  const body = JSON.stringify({ sdl: servedSdl(schema) });
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  return (req, res) => {
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag });
    res.end(body);
  };
}

/** The SDL a subgraph serves, and its ETag if it served it at `/sdl`. */
export interface ServiceSdl {
  sdl: string;
  etag?: string;
}

/** An answer's body read as JSON, refused past `MAX_SDL_ANSWER_BYTES`. */
async function jsonOf(url: string, body: AsyncIterable<Buffer>): Promise<unknown> {
  return JSON.parse(await readText(body, MAX_SDL_ANSWER_BYTES, `${url}: the SDL answer`));
}

/**
 * Fetches the SDL a subgraph serves: from `/sdl` beside its GraphQL path, nothing read when it is
 * still `known` (304), else from `_service { sdl }` (a subgraph that does not serve `/sdl`).
 * Throws when it does not answer with one in time.
 */
export async function fetchServiceSdl(url: string, timeoutMs: number, known?: ServiceSdl): Promise<ServiceSdl> {
  const signal = AbortSignal.timeout(timeoutMs);
  const ask = (target: string | URL, options: Omit<Parameters<typeof request>[1] & object, 'signal'>) =>
    request(target, { ...options, signal }).catch((error: unknown) => {
      // Say why: ECONNREFUSED, a timeout…
      const code = (error as { code?: unknown } | null)?.code;
      throw new Error(`${url}: ${typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
  const served = await ask(new URL(`.${SDL_PATH}`, url), { headers: known?.etag === undefined ? {} : { 'if-none-match': known.etag } });
  const { etag } = served.headers;
  if (served.statusCode === 304 && known !== undefined) {
    await served.body.dump();
    return known;
  }
  if (served.statusCode === 200 && typeof etag === 'string') return { sdl: sdlIn(url, (await jsonOf(url, served.body)) as { sdl?: unknown } | null), etag };
  await served.body.dump();
  const answer = await ask(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: SERVICE_SDL_QUERY }) });
  if (answer.statusCode !== 200) {
    await answer.body.dump();
    throw new Error(`${url}: HTTP ${answer.statusCode}`);
  }
  return { sdl: sdlIn(url, ((await jsonOf(url, answer.body)) as { data?: { _service?: { sdl?: unknown } | null } | null } | null)?.data?._service) };
}

/** The SDL of an answer (`{ sdl }`); throws when there is none. */
function sdlIn(url: string, answer: { sdl?: unknown } | null | undefined): string {
  const sdl = answer?.sdl;
  if (typeof sdl !== 'string' || sdl === '') throw new Error(`${url}: no SDL in the answer`);
  return sdl;
}
