import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { SDL_PATH, serviceSdlRoute } from '../../lib/graphql/service-query.ts';
import { sendJson, type Route } from '../../lib/http.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { orgSdl } from '../../subgraphs/org/schema.ts';
import { graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { Disposers, eventually, startHttpServer } from '../support/services.ts';

/**
 * The gateway polls every member's SDL: while nothing changes, a member answers `304 Not Modified`
 * and the gateway neither reads, checks nor composes anything; a change is composed at the next poll.
 */

const disposers = new Disposers();
let net: TestNetwork;
let gateway: Gateway;

/** A member serving its SDL at `/sdl` as organizations do, and counting what it is asked. */
interface PolledMember {
  url: string;
  /** `<method> <path> <status>` of each request answered. */
  answered: string[];
  /** Serves the SDL of this schema from now on. */
  serve(typeDefs: string): void;
}

async function polledMember(): Promise<PolledMember> {
  let route: Route = () => undefined;
  const answered: string[] = [];
  const url = await startHttpServer(disposers, async (req, res) => {
    res.on('finish', () => answered.push(`${req.method} ${req.url} ${res.statusCode}`));
    if (req.url === SDL_PATH) return route(req, res);
    // Nothing else: no GraphQL (`_service` included), no keys, no revocation list.
    for await (const chunk of req) void chunk;
    sendJson(res, 404, {});
  });
  return {
    url,
    answered,
    serve: (typeDefs) => void (route = serviceSdlRoute(buildSubgraphSchema(parse(typeDefs)))),
  };
}

async function readyz(): Promise<{ members: string[]; refused: { slug: string; reason: string }[] }> {
  return (await fetch(gateway.url.replace('/graphql', '/readyz'))).json() as never;
}

beforeAll(async () => {
  net = await startNetwork(disposers, []);
});
afterAll(() => disposers.dispose());

describe('polling the members’ SDL', () => {
  it('an organization serves at /sdl what it serves in `_service { sdl }`, and 304 to whoever has it', async () => {
    const acme = await net.startOrg('acme');
    const sdlUrl = new URL(SDL_PATH, acme.url);
    const served = await fetch(sdlUrl);
    const etag = served.headers.get('etag')!;
    expect(served.status).toBe(200);
    expect(await served.json()).toEqual((await graphql(acme.url, '{ _service { sdl } }')).data?._service);
    const again = await fetch(sdlUrl, { headers: { 'if-none-match': etag } });
    expect([again.status, await again.text()]).toEqual([304, '']);
    expect((await fetch(sdlUrl, { headers: { 'if-none-match': '"another"' } })).status).toBe(200);
  });

  it('reads nothing from a member while its SDL is unchanged, and composes its change at the next poll', async () => {
    const nova = await polledMember();
    const template = orgSdl(orgNames('nova'));
    nova.serve(template);
    await net.join({ org: 'nova', url: nova.url });
    gateway = await net.startGateway({ pollMs: 50 });
    await eventually(async () => expect(await readyz()).toMatchObject({ members: ['nova:ACTIVE'], refused: [] }));
    // Polled since, unchanged: each poll is a 304, never a `_service` query.
    await eventually(async () => expect(nova.answered.filter((line) => line === `GET ${SDL_PATH} 304`).length).toBeGreaterThanOrEqual(3));
    expect(nova.answered.filter((line) => line.startsWith('POST'))).toEqual([]);
    // A root field of its own: refused at the next poll, with no word of the change from the directory.
    nova.serve(`${template}\nextend type Query { extra: String }`);
    await eventually(async () =>
      expect(await readyz()).toMatchObject({ members: [], refused: [{ slug: 'nova', reason: expect.stringContaining('adds Query.extra') }] }),
    );
    nova.serve(template);
    await eventually(async () => expect(await readyz()).toMatchObject({ members: ['nova:ACTIVE'], refused: [] }));
  });
});
