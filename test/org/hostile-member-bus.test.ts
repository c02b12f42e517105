import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { FlattenedSign, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMessage } from '../../lib/bus/signing.ts';
import type { TwinStateEvent } from '../../lib/events.ts';
import { natsNames } from '../../lib/nats.ts';
import { issuerOf } from '../../lib/tokens/tokens.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, type TestOrg } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { connect, endOfStream, subscribe, type TestSubscription } from '../support/subscriptions.ts';

/**
 * What a member gone rogue can do on the bus with its own credentials, and what a client that got
 * onto the bus with more than a member's rights can do: each attempt is refused by nats-server or
 * dropped by whoever receives it, and nothing changes — not the directory's catalog, not what
 * subscribers receive, not any organization's data.
 */

const disposers = new Disposers();
let net: TestNetwork;
let acme: TestOrg;
let mallory: TestOrg;
/** mallory's subgraph's own NATS credentials: what a rogue member holds. */
let rogue: NatsConnection;
let names: ReturnType<typeof natsNames>;
/** acme's engineer, subscribed to acme's twin. */
let watcher: TestSubscription;
let minute = 0;

const EVENTS = `subscription($after: String) { twinEvents(filter: { orgs: ["acme"], types: [STATE, ALERT] }, after: $after) { type twinId state { metrics { value } } } }`;

/** A genuine acme reading: the event a subscriber must receive next, proving nothing forged came before it. */
async function genuine(value: number): Promise<void> {
  minute += 1;
  await acme.ingest([{ twinId: 'acme:press-1', metric: 'force', at: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(), value }]);
  await acme.eventsPublished();
}

/** The next event the watcher receives is the genuine one with this value. */
async function nextIsGenuine(value: number): Promise<void> {
  await genuine(value);
  const received = await watcher.next();
  expect(received.errors).toBeUndefined();
  expect(received.data.twinEvents).toEqual({ type: 'STATE', twinId: 'acme:press-1', state: { metrics: [{ value }] } });
}

/** A state event about an acme twin, as acme's publisher would write it. */
function stateEvent(): TwinStateEvent {
  const at = new Date().toISOString();
  return {
    type: 'state',
    eventId: randomUUID(),
    org: 'acme',
    twinId: 'acme:press-1',
    at,
    kind: 'press',
    tags: [],
    state: { status: 'ALERT', updatedAt: at, metrics: [{ metric: 'force', unit: 'kN', value: 666, at, inRange: false }] },
  };
}

const body = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A message signature made by hand: `iss` and `iat` as given, whatever the key. */
async function signedAs(org: string, key: { kid: string; privateKey: CryptoKey }, path: string, data: Uint8Array, iat = Date.now() / 1000) {
  const jws = await new FlattenedSign(data)
    .setProtectedHeader({
      alg: 'EdDSA',
      kid: key.kid,
      typ: 'twinx-message+jws',
      b64: false,
      crit: ['b64'],
      iss: issuerOf(org),
      sub: path,
      iat: Math.floor(iat),
    })
    .sign(key.privateKey);
  const headers = natsHeaders();
  headers.set('Twinx-Signature', `${jws.protected}..${jws.signature}`);
  return headers;
}

async function gatewayRejections(): Promise<Record<string, number>> {
  return ((await (await fetch(net.gateway.url.replace('/graphql', '/readyz'))).json()) as { rejectedMessages: Record<string, number> }).rejectedMessages;
}

async function catalog(): Promise<string[]> {
  return (await net.directoryDb.catalogTwin.findMany({ orderBy: { id: 'asc' } })).map((row) => `${row.id}:${row.name}`);
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex', 'mallory']);
  acme = net.orgs.acme!;
  mallory = net.orgs.mallory!;
  names = natsNames(net.subjectPrefix);
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics: [{ name: 'force', unit: 'kN' }] });
  await mallory.createTwin({ id: 'mallory:trap-1', name: 'Trap', kind: 'press' });
  await net.catalogHas(['acme:press-1', 'mallory:trap-1']);
  rogue = await net.bus.connect({ kind: 'member', org: 'mallory' }, 'rogue');
  disposers.add(() => rogue.close());
  const client = connect(net.gateway.url, bearer(await acme.memberToken('viewer', 'engineer')));
  disposers.add(async () => client.dispose());
  watcher = subscribe(client, EVENTS, { after: await endOfStream(net) });
});
afterAll(() => disposers.dispose());

describe('a member on the bus with its own credentials', () => {
  it('cannot publish events, lifecycle changes or revocations on another organization’s subjects', async () => {
    const js = jetstream(rogue);
    for (const subject of [names.eventSubject('acme', 'press-1', 'state'), names.eventSubject('acme', 'press-1', 'twin'), names.revocationSubject('acme')]) {
      await expect(js.publish(subject, body(stateEvent()))).rejects.toThrow(/Permissions Violation/);
    }
    await nextIsGenuine(1);
  });

  it('cannot store readings through another organization’s ingest, nor read it', async () => {
    const device = await net.bus.connect({ kind: 'device', org: 'mallory', device: 'probe' });
    disposers.add(() => device.close());
    const readings = body({ readings: [{ twinId: 'acme:press-1', metric: 'force', at: '2026-02-01T00:00:00Z', value: 666 }] });
    for (const connection of [rogue, device])
      await expect(jetstream(connection).publish(names.ingestSubject('acme'), readings)).rejects.toThrow(/Permissions Violation/);
    await expect(
      jetstream(rogue)
        .consumers.get(names.ingestStream('acme'), 'org-ingest')
        .then((c) => c.next()),
    ).rejects.toThrow(/Permissions Violation/);
    const jsm = await jetstreamManager(rogue, { checkAPI: false });
    await expect(jsm.consumers.add(names.ingestStream('acme'), { durable_name: 'stolen', ack_policy: 'explicit' as never })).rejects.toThrow(
      /Permissions Violation/,
    );
    expect(await acme.db.reading.count({ where: { value: 666 } })).toBe(0);
  });

  it('cannot read the network’s events or announcements straight from the streams, nor anyone’s replies', async () => {
    for (const stream of [names.eventsStream, names.revocationsStream]) {
      await expect(
        jetstream(rogue)
          .consumers.get(stream)
          .then((c) => c.next({ expires: 1000 })),
      ).rejects.toThrow(/Permissions Violation/);
    }
    for (const subject of ['_INBOX_member_acme.>', '_INBOX_gateway.>', '_INBOX.>', `${net.subjectPrefix}.>`]) {
      const sub = rogue.subscribe(subject);
      await expect(sub.closed).resolves.toMatchObject({ name: 'PermissionViolationError' });
    }
  });

  it('cannot create consumers, even on its own streams (a push consumer delivers wherever it is told)', async () => {
    const jsm = await jetstreamManager(rogue, { checkAPI: false });
    for (const stream of [names.ingestStream('mallory'), names.accessReportStream('mallory')]) {
      await expect(
        jsm.consumers.add(stream, { durable_name: 'pusher', ack_policy: 'none' as never, deliver_subject: names.networkChangedSubject }),
      ).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.consumers.delete(stream, 'org-ingest')).rejects.toThrow(/Permissions Violation/);
    }
  });

  it('cannot purge, delete or edit the shared streams or their messages', async () => {
    const jsm = await jetstreamManager(rogue, { checkAPI: false });
    const admin = await jetstreamManager(net.nats);
    const before = await Promise.all([names.eventsStream, names.revocationsStream].map(async (stream) => (await admin.streams.info(stream)).state.messages));
    for (const stream of [names.eventsStream, names.revocationsStream]) {
      await expect(jsm.streams.purge(stream)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.delete(stream)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.update(stream, { max_age: 1e9 })).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.deleteMessage(stream, 1)).rejects.toThrow(/Permissions Violation/);
    }
    const after = await Promise.all([names.eventsStream, names.revocationsStream].map(async (stream) => (await admin.streams.info(stream)).state.messages));
    expect(after).toEqual(before);
  });

  it('cannot announce membership changes (nor flood them)', async () => {
    const violations: string[] = [];
    void (async () => {
      for await (const status of rogue.status()) if (status.type === 'error') violations.push(String(status.error.message));
    })();
    for (let i = 0; i < 100; i++) rogue.publish(names.networkChangedSubject, body({ type: 'network.changed', at: new Date().toISOString() }));
    await eventually(async () => expect(violations.some((message) => message.includes('Permissions Violation'))).toBe(true));
  });

  it('has its own events refused when they speak of another organization’s twins', async () => {
    const rejected = (await gatewayRejections()).mismatch ?? 0;
    const forged = stateEvent();
    const data = body(forged);
    // Signed by mallory with its real key, on its own subject: the ids inside are acme's.
    await jetstream(rogue).publish(names.eventSubject('mallory', 'press-1', 'state'), data, {
      msgID: forged.eventId,
      headers: signMessage('events.mallory.press-1.state', data, { org: 'mallory', key: await mallory.issuer.keys.signingKey() }),
    });
    const lifecycle = { ...stateEvent(), type: 'twin', change: 'created', twin: { name: 'Hijacked', kind: 'press', tags: [], suppliedByIds: [] } };
    const lifecycleData = body(lifecycle);
    await jetstream(rogue).publish(names.eventSubject('mallory', 'press-1', 'twin'), lifecycleData, {
      msgID: lifecycle.eventId,
      headers: signMessage('events.mallory.press-1.twin', lifecycleData, { org: 'mallory', key: await mallory.issuer.keys.signingKey() }),
    });
    await nextIsGenuine(2);
    expect((await gatewayRejections()).mismatch).toBeGreaterThan(rejected);
    expect(await catalog()).toEqual(['acme:press-1:Press 1', 'mallory:trap-1:Trap']);
  });
});

describe('a client that got onto the bus with more than a member’s rights', () => {
  /** Publishes on acme's subject as only NATS's own checks would allow: the network operator's connection. */
  async function publishAsAcme(path: string, data: Uint8Array, headers = natsHeaders(), msgID?: string) {
    await jetstream(net.nats).publish(`${net.subjectPrefix}.${path}`, data, { headers, msgID });
  }

  it('cannot make anyone deliver or apply an unsigned, forged or altered event', async () => {
    const before = await gatewayRejections();
    const unsigned = stateEvent();
    await publishAsAcme('events.acme.press-1.state', body(unsigned), natsHeaders(), unsigned.eventId);

    // Signed by mallory for acme's subject: mallory may not speak there.
    const forged = stateEvent();
    const forgedData = body(forged);
    const malloryKey = await mallory.issuer.keys.signingKey();
    await publishAsAcme(
      'events.acme.press-1.state',
      forgedData,
      signMessage('events.acme.press-1.state', forgedData, { org: 'mallory', key: malloryKey }),
      forged.eventId,
    );
    // Claiming to be acme, signed with mallory's key.
    const asAcme = stateEvent();
    await publishAsAcme(
      'events.acme.press-1.state',
      body(asAcme),
      await signedAs('acme', malloryKey, 'events.acme.press-1.state', body(asAcme)),
      asAcme.eventId,
    );

    // A genuine signature by acme over another body.
    const real = stateEvent();
    const realHeaders = signMessage('events.acme.press-1.state', body(real), { org: 'acme', key: await acme.issuer.keys.signingKey() });
    await publishAsAcme('events.acme.press-1.state', body({ ...real, state: { ...real.state, status: 'OK' } }), realHeaders, real.eventId);

    // A forged lifecycle change for the directory's catalog, unsigned.
    const lifecycle = { ...stateEvent(), type: 'twin', change: 'updated', twin: { name: 'Hijacked', kind: 'press', tags: [], suppliedByIds: [] } };
    await publishAsAcme('events.acme.press-1.twin', body(lifecycle), natsHeaders(), lifecycle.eventId);

    await nextIsGenuine(3);
    const after = await gatewayRejections();
    // The unsigned state event and the unsigned lifecycle change (the gateway reads every event).
    expect((after.unsigned ?? 0) - (before.unsigned ?? 0)).toBe(2);
    expect((after['wrong-signer'] ?? 0) - (before['wrong-signer'] ?? 0)).toBe(1);
    // mallory's key claiming to be acme's; acme's real signature over another body.
    expect((after['unknown-key'] ?? 0) - (before['unknown-key'] ?? 0)).toBe(1);
    expect((after['bad-signature'] ?? 0) - (before['bad-signature'] ?? 0)).toBe(1);
    await acme.createTwin({ id: 'acme:press-2', name: 'Press 2', kind: 'press' });
    await net.catalogHas(['acme:press-1', 'acme:press-2', 'mallory:trap-1']);
    expect(await catalog()).toEqual(['acme:press-1:Press 1', 'acme:press-2:Press 2', 'mallory:trap-1:Trap']);
  });

  it('cannot replay what acme said: not again within the dedupe window, not later', async () => {
    const admin = await jetstreamManager(net.nats);
    // The newest genuine acme event, as anyone reading the stream would have it.
    const stored = await admin.streams.getMessage(names.eventsStream, { last_by_subj: names.eventSubject('acme', 'press-1', 'state') });
    const msgId = stored!.header.get('Nats-Msg-Id');
    const before = (await admin.streams.info(names.eventsStream)).state.last_seq;
    // The same message again: JetStream's dedupe drops it (the signature covers the id).
    const again = await jetstream(net.nats).publish(stored!.subject, stored!.data, { headers: stored!.header, msgID: msgId });
    expect(again.duplicate).toBe(true);
    // Under another id: the signed event id does not match.
    const rejectedBefore = await gatewayRejections();
    await jetstream(net.nats).publish(stored!.subject, stored!.data, { headers: stored!.header, msgID: randomUUID() });
    // As if captured an hour ago and published now (acme's own key, its own ids).
    const old = stateEvent();
    const stale = await signedAs('acme', await acme.issuer.keys.signingKey(), 'events.acme.press-1.state', body(old), Date.now() / 1000 - 3600);
    await jetstream(net.nats).publish(stored!.subject, body(old), { headers: stale, msgID: old.eventId });
    expect((await admin.streams.info(names.eventsStream)).state.last_seq).toBe(before + 2);
    await nextIsGenuine(4);
    const after = await gatewayRejections();
    expect((after.mismatch ?? 0) - (rejectedBefore.mismatch ?? 0)).toBe(1);
    expect((after.stale ?? 0) - (rejectedBefore.stale ?? 0)).toBe(1);
  });

  it('cannot end other people’s subscriptions with forged revocations, nor make the directory honour them (an organization revokes its own tokens only)', async () => {
    const globexGrant = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { idGlobs: ['globex:*'] } });
    const revocation = {
      type: 'token.revoked',
      kind: 'GRANT',
      eventId: randomUUID(),
      org: 'globex',
      jti: globexGrant.jti,
      subject: 'acme',
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      at: new Date().toISOString(),
    };
    // Unsigned, on globex's subject.
    await jetstream(net.nats).publish(names.revocationSubject('globex'), body(revocation), { msgID: revocation.eventId });
    // Signed by mallory on its own subject: naming globex's grant as globex's, and as if it were its own.
    for (const org of ['globex', 'mallory']) {
      const claimed = { ...revocation, org, eventId: randomUUID() };
      await jetstream(rogue).publish(names.revocationSubject('mallory'), body(claimed), {
        msgID: claimed.eventId,
        headers: signMessage('revocations.mallory', body(claimed), { org: 'mallory', key: await mallory.issuer.keys.signingKey() }),
      });
    }
    // A genuine revocation after them: once the directory and the gateway have it, they have seen the forged ones.
    const other = await net.orgs.globex!.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { idGlobs: ['globex:*'] } });
    await net.orgs.globex!.request(`mutation($jti: ID!) { globex { revokeGrant(jti: $jti) { jti } } }`, { jti: other.jti });
    await eventually(async () => expect(await net.directoryDb.revokedToken.count({ where: { jti: other.jti } })).toBe(1));
    expect(await net.directoryDb.revokedToken.count({ where: { jti: globexGrant.jti, org: 'globex' } })).toBe(0);
    const viewer = await acme.memberToken('viewer');
    await eventually(async () => {
      const refused = subscribe(connect(net.gateway.url, bearer(viewer, [other.token])), EVENTS);
      expect((await refused.next()).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'REVOKED' });
    });
    const client = connect(net.gateway.url, bearer(viewer, [globexGrant.token]));
    disposers.add(async () => client.dispose());
    const sub = subscribe(client, EVENTS, { after: await endOfStream(net) });
    await genuine(5);
    expect((await sub.next()).errors).toBeUndefined();
    await sub.close();
  });
});
