import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigningKey, retireKey } from '../../subgraphs/org/auth/keys.ts';
import type { Directory } from '../../subgraphs/directory/server.ts';
import { graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, KEY_SECRET } from '../support/org.ts';
import { Disposers, onServer } from '../support/services.ts';

/**
 * Replicas of the directory share its store and the durable consumers of the organizations'
 * events: each change reaches the store through one of them, and every replica answers from it
 * at once, whatever it remembered of the catalog and of revoked tokens; a key a member retired
 * counts on every replica at once, whichever heard of it.
 */
const disposers = new Disposers();
let net: TestNetwork;
let directories: Directory[];
/** An acme viewer holding a grant of globex. */
let engineer: Record<string, string>;
let grantJti: string;

/** The twin as each replica hands it out: its id, null, or the code of the error refusing it. */
async function twinOnEach(id: string, headers: Record<string, string>): Promise<unknown[]> {
  return Promise.all(
    directories.map(async (directory) => {
      const answer = await graphql(
        directory.url,
        `
          query ($id: ID!) {
            twin(id: $id) {
              id
            }
          }
        `,
        { id },
        headers,
      );
      return answer.errors ? answer.errors[0]?.extensions?.code : (answer.data.twin?.id ?? null);
    }),
  );
}

/** The ids of the twins each replica lists to the caller. */
async function listOnEach(headers: Record<string, string>): Promise<unknown[]> {
  return Promise.all(
    directories.map(async (directory) => {
      const answer = await graphql(
        directory.url,
        `
          {
            twins(first: 50) {
              edges {
                node {
                  id
                }
              }
            }
          }
        `,
        undefined,
        headers,
      );
      return answer.errors ? answer.errors[0]?.extensions?.code : answer.data.twins.edges.map((edge: { node: { id: string } }) => edge.node.id);
    }),
  );
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  directories = [net.directory, await net.startDirectoryReplica()];
  await net.orgs.globex!.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill' });
  await net.orgs.globex!.eventsPublished();
  await net.catalogHas(['globex:mill-1']);
  const grant = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { ids: ['globex:mill-1'] } });
  grantJti = grant.jti;
  engineer = bearer(await net.orgs.acme!.memberToken('viewer', 'engineer'), [grant.token]);
});
afterAll(() => disposers.dispose());

describe('directory replicas', () => {
  it('hand out a twin as soon as it joins the catalog, and not once it left, whatever they remembered', async () => {
    const acme = net.orgs.acme!;
    // Each replica remembers the twin as not listed, and the catalog's page without it.
    expect(await twinOnEach('acme:press-1', engineer)).toEqual([null, null]);
    expect(await listOnEach(engineer)).toEqual([['globex:mill-1'], ['globex:mill-1']]);
    await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press' });
    await acme.eventsPublished();
    await expect.poll(() => twinOnEach('acme:press-1', engineer), { timeout: 5000 }).toEqual(['acme:press-1', 'acme:press-1']);
    expect(await listOnEach(engineer)).toEqual([
      ['acme:press-1', 'globex:mill-1'],
      ['acme:press-1', 'globex:mill-1'],
    ]);
    await acme.request(`mutation { acme { deleteTwin(id: "acme:press-1") } }`);
    await acme.eventsPublished();
    await expect.poll(() => twinOnEach('acme:press-1', engineer), { timeout: 5000 }).toEqual([null, null]);
    expect(await listOnEach(engineer)).toEqual([['globex:mill-1'], ['globex:mill-1']]);
  });

  it('answer a page of the catalog they read before without reading the store, until the catalog changes', async () => {
    const acme = net.orgs.acme!;
    expect(await listOnEach(engineer)).toEqual([['globex:mill-1'], ['globex:mill-1']]);
    // Written by a process that tells no one: the pages remembered stand.
    await net.directoryDb.catalogTwin.create({
      data: { id: 'acme:quiet-1', org: 'acme', name: 'Quiet', kind: 'press', tags: [], suppliedByIds: [], updatedAt: new Date() },
    });
    expect(await listOnEach(engineer)).toEqual([['globex:mill-1'], ['globex:mill-1']]);
    await acme.createTwin({ id: 'acme:drill-1', name: 'Drill 1', kind: 'drill' });
    await acme.eventsPublished();
    await expect.poll(() => twinOnEach('acme:drill-1', engineer), { timeout: 5000 }).toEqual(['acme:drill-1', 'acme:drill-1']);
    expect(await listOnEach(engineer)).toEqual([
      ['acme:drill-1', 'acme:quiet-1', 'globex:mill-1'],
      ['acme:drill-1', 'acme:quiet-1', 'globex:mill-1'],
    ]);
    await net.directoryDb.catalogTwin.delete({ where: { id: 'acme:quiet-1' } });
    await acme.request(`mutation { acme { deleteTwin(id: "acme:drill-1") } }`);
    await acme.eventsPublished();
    await expect.poll(() => listOnEach(engineer), { timeout: 5000 }).toEqual([['globex:mill-1'], ['globex:mill-1']]);
  });

  it('stop answering for a revoked grant at once, whichever recorded the revocation', async () => {
    expect(await twinOnEach('globex:mill-1', engineer)).toEqual(['globex:mill-1', 'globex:mill-1']);
    await net.orgs.globex!.request(`mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { jti } } }`, { jti: grantJti });
    await net.orgs.globex!.eventsPublished();
    await expect.poll(() => twinOnEach('globex:mill-1', engineer), { timeout: 5000 }).toEqual([null, null]);
  });

  it('read what changed in the store while they could not hear of it', async () => {
    const grant = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { ids: ['globex:mill-1'] } });
    const holder = bearer(await net.orgs.acme!.memberToken('viewer', 'holder'), [grant.token]);
    expect(await twinOnEach('globex:mill-1', holder)).toEqual(['globex:mill-1', 'globex:mill-1']);
    expect(await twinOnEach('acme:ghost-1', holder)).toEqual([null, null]);
    expect(await listOnEach(holder)).toEqual([['globex:mill-1'], ['globex:mill-1']]);
    await onServer(
      (client) =>
        client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'twinx-directory-changes' AND datname = current_database()`,
        ),
      net.directoryDatabaseUrl,
    );
    // Written by a process that tells no one.
    await net.directoryDb.catalogTwin.create({
      data: { id: 'acme:ghost-1', org: 'acme', name: 'Ghost', kind: 'press', tags: [], suppliedByIds: [], updatedAt: new Date() },
    });
    await net.directoryDb.revokedToken.create({ data: { org: 'globex', jti: grant.jti, kind: 'GRANT', expiresAt: new Date(Date.now() + 86_400_000) } });
    await expect.poll(() => twinOnEach('acme:ghost-1', holder), { timeout: 5000 }).toEqual(['acme:ghost-1', 'acme:ghost-1']);
    expect(await listOnEach(holder)).toEqual([['acme:ghost-1'], ['acme:ghost-1']]);
    await expect.poll(() => twinOnEach('globex:mill-1', holder), { timeout: 5000 }).toEqual([null, null]);
  });

  it('refuse tokens of a key its member retired at once, whichever heard of it', async () => {
    const acme = net.orgs.acme!;
    await acme.createTwin({ id: 'acme:lathe-1', name: 'Lathe 1', kind: 'lathe' });
    await acme.eventsPublished();
    const old = await acme.issuer.keys.signingKey();
    const holder = bearer(await acme.memberToken('viewer', 'old-key-holder'));
    // Each replica has verified the token (and remembers it so).
    await expect.poll(() => twinOnEach('acme:lathe-1', holder), { timeout: 5000 }).toEqual(['acme:lathe-1', 'acme:lathe-1']);
    await createSigningKey(acme.db, KEY_SECRET);
    await acme.auth.sync();
    expect(await retireKey(acme.db, 'acme', old.kid)).toBe(true);
    await acme.eventsPublished();
    // Well before the replicas read the members' revocation lists again (every minute).
    await expect.poll(() => twinOnEach('acme:lathe-1', holder), { timeout: 5000 }).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED']);
    const fresh = bearer(await acme.memberToken('viewer', 'new-key-holder'));
    expect(await twinOnEach('acme:lathe-1', fresh)).toEqual(['acme:lathe-1', 'acme:lathe-1']);
  });
});
