import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMessage } from '../../lib/bus/signing.ts';
import { natsNames } from '../../lib/nats.ts';
import { createSigningKey, retireKey } from '../../subgraphs/org/auth/keys.ts';
import type { Gateway } from '../../gateway/server.ts';
import { graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, KEY_SECRET, type TestOrg } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import type { Client } from 'graphql-ws';
import { connect, endOfStream, subscribe, type TestSubscription } from '../support/subscriptions.ts';

/**
 * Closing access works everywhere: a grant or member token revoked, a key retired, a member
 * suspended ends the requests and live subscriptions resting on it at every gateway and at the
 * directory, and stays closed for a gateway started later even when the bus lost the
 * announcement.
 */

const disposers = new Disposers();
let net: TestNetwork;
let acme: TestOrg;
let globex: TestOrg;
let mallory: TestOrg;
let second: Gateway;

const EVENTS = `subscription($after: String) { twinEvents(filter: { types: [STATE] }, after: $after) { twinId } }`;
const LIST = `{ twins(first: 50) { edges { node { id } } } }`;

/** Subscriptions with these tokens on both gateways (a connection each), from the end of the stream. */
async function subscribeOnBoth(headers: Record<string, string>): Promise<(TestSubscription & { client: Client })[]> {
  const after = await endOfStream(net);
  return [net.gateway, second].map((gateway) => {
    const client = connect(gateway.url, headers);
    disposers.add(async () => client.dispose());
    return { ...subscribe(client, EVENTS, { after }), client };
  });
}

/**
 * Each subscription's next result is an error with this reason, the subscription is over, and a
 * new one on the same connection (opened while the tokens still counted) is refused the same way.
 */
async function endedWith(subscriptions: (TestSubscription & { client: Client })[], reason: string): Promise<void> {
  for (const subscription of subscriptions) {
    const last = await subscription.next();
    expect(last.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason });
    await subscription.completed;
    const again = await subscribe(subscription.client, EVENTS).next();
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason });
  }
}

async function readiness(gateway: Gateway): Promise<Record<string, number>> {
  return ((await (await fetch(gateway.url.replace('/graphql', '/readyz'))).json()) as { rejectedMessages: Record<string, number> }).rejectedMessages;
}

async function visibleThroughGateway(headers: Record<string, string>): Promise<{ status: number; ids?: string[]; code?: unknown }> {
  const answer = await net.query(LIST, undefined, headers);
  return { status: answer.status, ids: answer.data?.twins.edges.map((edge: any) => edge.node.id), code: answer.errors?.[0]?.extensions?.code };
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex', 'mallory']);
  [acme, globex, mallory] = [net.orgs.acme!, net.orgs.globex!, net.orgs.mallory!];
  second = await net.startGateway();
  const metrics = [{ name: 'force', unit: 'kN' }];
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics });
  await globex.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', metrics });
  await mallory.createTwin({ id: 'mallory:trap-1', name: 'Trap', kind: 'trap', metrics });
  await net.catalogHas(['acme:press-1', 'globex:mill-1', 'mallory:trap-1']);
});
afterAll(() => disposers.dispose());

describe('closing access', () => {
  it('ends subscriptions and requests resting on a retired key at every gateway and at the directory', async () => {
    const headers = bearer(await acme.memberToken('viewer', 'old-key-holder'));
    const old = await acme.issuer.keys.signingKey();
    const subscriptions = await subscribeOnBoth(headers);
    expect(await visibleThroughGateway(headers)).toMatchObject({ status: 200, ids: ['acme:press-1'] });
    await createSigningKey(acme.db, KEY_SECRET);
    await acme.auth.sync();
    const fresh = bearer(await acme.memberToken('viewer', 'new-key-holder'));
    expect(await retireKey(acme.db, 'acme', old.kid)).toBe(true);
    await endedWith(subscriptions, 'INVALID');
    for (const gateway of [net.gateway, second]) {
      const refused = await graphql(gateway.url, LIST, undefined, headers);
      expect(refused.status).toBe(401);
    }
    const atDirectory = await graphql(net.directory.url, LIST, undefined, headers);
    expect(atDirectory.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    // A token of the new key is not touched.
    expect(await visibleThroughGateway(fresh)).toMatchObject({ status: 200, ids: ['acme:press-1'] });
  });

  it('stops the directory from answering for a revoked member token', async () => {
    const token = await globex.memberToken('viewer', 'leaver');
    const { jti } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string };
    expect((await graphql(net.directory.url, LIST, undefined, bearer(token))).data.twins.edges).toHaveLength(1);
    await globex.request(`mutation($jti: ID!) { globex { revokeMemberToken(jti: $jti) } }`, { jti });
    await eventually(async () => expect((await graphql(net.directory.url, LIST, undefined, bearer(token))).data.twins.edges).toEqual([]));
  });

  it('keeps a revoked grant refused on a gateway started after the revocations stream was lost', async () => {
    const grant = await globex.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { idGlobs: ['globex:*'] } });
    await globex.request(`mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { jti } } }`, { jti: grant.jti });
    await globex.eventsPublished();
    // The stream is lost (only the network operator could do this; here it stands for a lost NATS store).
    await (await jetstreamManager(net.nats)).streams.purge(natsNames(net.subjectPrefix).revocationsStream);
    const late = await net.startGateway();
    const client = connect(late.url, bearer(await acme.memberToken('viewer'), [grant.token]));
    disposers.add(async () => client.dispose());
    const refused = await subscribe(client, EVENTS).next();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED' });
  });

  it('takes a suspended member out everywhere: its NATS users, its tokens, the grants it holds, its subscriptions and its events', async () => {
    const own = bearer(await mallory.memberToken('viewer', 'insider'));
    const held = await globex.grantToken({ partner: 'mallory', scopes: ['twins:read', 'twins:subscribe'], selector: { idGlobs: ['globex:*'] } });
    const partner = bearer(await mallory.memberToken('viewer', 'partner'), [held.token]);
    // An acme engineer holding mallory's grant: that grant is worth nothing once mallory is out.
    const fromMallory = (await mallory.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { idGlobs: ['mallory:*'] } })).token;
    const engineer = bearer(await acme.memberToken('viewer', 'engineer'), [fromMallory]);
    expect(await visibleThroughGateway(partner)).toMatchObject({ status: 200, ids: ['globex:mill-1', 'mallory:trap-1'] });
    expect(await visibleThroughGateway(engineer)).toMatchObject({ status: 200, ids: ['acme:press-1', 'mallory:trap-1'] });
    const closing = [...(await subscribeOnBoth(own)), ...(await subscribeOnBoth(partner)), ...(await subscribeOnBoth(engineer))];
    const rogue = await net.bus.connect({ kind: 'member', org: 'mallory' }, 'rogue');
    disposers.add(() => rogue.close());
    const revoked = (async () => {
      for await (const status of rogue.status()) if (status.type === 'error' && /Revoked/.test(String(status.error.message))) return;
    })();
    const ownSubject = natsNames(net.subjectPrefix).eventSubject('mallory', 'trap-1', 'state');

    const suspended = await net.admin(`mutation { network { suspendOrganization(slug: "mallory") { status } } }`);
    expect(suspended.data.network.suspendOrganization.status).toBe('SUSPENDED');
    await endedWith(closing, 'INVALID');
    // nats-server cut mallory's user off and refuses it: not even its own subjects.
    await revoked;
    await expect(jetstream(rogue).publish(ownSubject, '{}', { timeout: 500 })).rejects.toThrow();
    for (const headers of [own, partner, engineer]) expect(await visibleThroughGateway(headers)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    for (const headers of [own, partner]) {
      const atDirectory = await graphql(net.directory.url, LIST, undefined, headers);
      expect(atDirectory.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
    // Even signed with its real key, what it says is no longer heard.
    const before = (await readiness(net.gateway))['unknown-signer'] ?? 0;
    const event = {
      type: 'state',
      eventId: randomUUID(),
      org: 'mallory',
      twinId: 'mallory:trap-1',
      at: new Date().toISOString(),
      kind: 'trap',
      tags: [],
      state: { status: 'OK', updatedAt: null, metrics: [] },
    };
    const data = new TextEncoder().encode(JSON.stringify(event));
    const headers = signMessage('events.mallory.trap-1.state', data, { org: 'mallory', key: await mallory.issuer.keys.signingKey() });
    await jetstream(net.nats).publish(natsNames(net.subjectPrefix).eventSubject('mallory', 'trap-1', 'state'), data, { headers, msgID: event.eventId });
    await eventually(async () => expect((await readiness(net.gateway))['unknown-signer']).toBe(before + 1));

    const activated = await net.admin(`mutation { network { activateOrganization(slug: "mallory") { status } } }`);
    expect(activated.data.network.activateOrganization.status).toBe('ACTIVE');
    await eventually(async () => expect(await visibleThroughGateway(own)).toMatchObject({ status: 200, ids: ['mallory:trap-1'] }));
    // Its NATS user is let in again: the connection comes back by itself.
    await eventually(async () => expect((await jetstream(rogue).publish(ownSubject, '{}', { timeout: 500 })).stream).toBeDefined());
  });
});
