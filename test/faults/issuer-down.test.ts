import { jetstreamManager } from '@nats-io/jetstream';
import { createClient } from 'graphql-ws';
import { exportJWK, generateKeyPair } from 'jose';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createGateway, ISSUER_UNAVAILABLE, type Gateway } from '../../gateway/server.ts';
import { createLogger } from '../../lib/logger.ts';
import { natsNames } from '../../lib/nats.ts';
import { signToken } from '../../lib/tokens/tokens.ts';
import { createSigningKey, retireKey } from '../../subgraphs/org/auth/keys.ts';
import { startOrgSubgraph } from '../../subgraphs/org/main.ts';
import { graphql, type GraphQLResponse } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, KEY_SECRET, type TestOrg } from '../support/org.ts';
import { Disposers, eventually } from '../support/services.ts';
import { endOfStream, subscribe } from '../support/subscriptions.ts';

/**
 * An organization that is down (its subgraph and JWKS unreachable) locks out none of its tokens
 * a gateway already knew the keys of, even across a gateway restart, and none of the other
 * organizations' tokens of the same request; a key it retired meanwhile is refused once it is back.
 */

const disposers = new Disposers();
const logger = createLogger('test', process.env.LOG_LEVEL ?? 'silent');
let net: TestNetwork;
let acme: TestOrg;
let globex: TestOrg;
/** acme's subgraph as it runs now. */
let acmeNow: { stop: () => Promise<void>; eventsPublished: () => Promise<void> };

const MILL = `{ twin(id: "globex:mill-1") { id name } }`;
const LIST = `{ twins(first: 50) { edges { node { id } } } }`;
const MILL_EVENTS = `subscription($after: String) { twinEvents(filter: { twinIds: ["globex:mill-1"], types: [STATE] }, after: $after) { twinId } }`;

/** A gateway on the network, keeping members' keys in `stateDir` when given, stopped by the caller (or at the end). */
async function startGateway(stateDir?: string): Promise<Gateway> {
  // Members that could not be read are read again every 200 ms: the issuer's return is seen at once.
  const gateway = createGateway({ ...net.gatewayOptions, stateDir, pollMs: 200, subgraphTimeoutMs: 2000 });
  await gateway.start();
  let stopped = false;
  const stop = gateway.stop.bind(gateway);
  gateway.stop = async () => {
    if (!stopped) await stop();
    stopped = true;
  };
  disposers.add(() => gateway.stop());
  return gateway;
}

/** A fresh state directory, removed at the end. */
async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'twinx-gateway-'));
  disposers.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts acme again on its address and database (an organization coming back). */
async function restartAcme(): Promise<void> {
  const nats = await acme.bus.connect({ kind: 'member', org: 'acme' }, 'twinx-test-acme-again');
  disposers.add(() => nats.drain());
  const started = await startOrgSubgraph(
    {
      org: 'acme',
      databaseUrl: acme.databaseUrl,
      keySecret: KEY_SECRET,
      subjectPrefix: net.subjectPrefix,
      port: Number(new URL(acme.url).port),
      host: '127.0.0.1',
      poolSize: 2,
    },
    nats,
    logger,
  );
  disposers.add(started.stop);
  acmeNow = started.subgraph;
  // Back once it consumes again (stopping it while its consumers still start would wait on them).
  await eventually(async () => {
    const checks = (await (await fetch(acme.url.replace('/graphql', '/readyz'))).json()) as Record<string, unknown>;
    if (!checks.deviceIngest || !checks.accessReports) throw new Error(`acme not back: ${JSON.stringify(checks)}`);
  });
}

/** Runs `test` while acme is down, then brings it back. */
async function whileAcmeIsDown(test: () => Promise<void>): Promise<void> {
  await acmeNow.stop();
  try {
    await test();
  } finally {
    await restartAcme();
  }
}

/** `twin(id: "globex:mill-1")` through a gateway, with the answer's extensions. */
async function mill(gateway: Gateway, headers: Record<string, string>): Promise<GraphQLResponse & { extensions?: { warnings?: unknown } }> {
  return graphql(gateway.url, MILL, undefined, headers);
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  [acme, globex] = [net.orgs.acme!, net.orgs.globex!];
  acmeNow = acme;
  const metrics = [{ name: 'force', unit: 'kN' }];
  await acme.createTwin({ id: 'acme:press-1', name: 'Press 1', kind: 'press', metrics });
  await globex.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', metrics });
  await net.catalogHas(['acme:press-1', 'globex:mill-1']);
});
afterAll(() => disposers.dispose());

describe('an issuer that is down', () => {
  it("does not keep a globex member with an acme grant from globex's own twin, over HTTP or a subscription", async () => {
    const member = await globex.memberToken('viewer', 'mill-watcher');
    const { token: grant } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'twins:subscribe'], selector: { idGlobs: ['acme:*'] } });
    const headers = bearer(member, [grant]);
    await whileAcmeIsDown(async () => {
      // Started while acme is down, with nothing kept: acme's key cannot be learned.
      const gateway = await startGateway();
      const answer = await mill(gateway, headers);
      expect(answer.status).toBe(200);
      expect(answer.data).toEqual({ twin: { id: 'globex:mill-1', name: 'Mill 1' } });
      expect(answer.extensions?.warnings).toEqual([expect.objectContaining({ code: 'UNAVAILABLE', org: 'acme' })]);

      // The acme grant alone is not accepted: retry later, not refused.
      const alone = await mill(gateway, bearer(grant));
      expect(alone.status).toBe(503);
      expect(alone.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', org: 'acme' });

      // A subscription: acknowledged with the same warning, and globex's events flow.
      let acknowledged!: (payload: unknown) => void;
      const ack = new Promise<unknown>((resolve) => (acknowledged = resolve));
      const client = createClient({
        url: gateway.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: headers,
        retryAttempts: 0,
        on: { connected: (_socket, payload) => acknowledged(payload) },
      });
      disposers.add(async () => client.dispose());
      const events = subscribe(client, MILL_EVENTS, { after: await endOfStream(net) });
      expect(await ack).toEqual({ warnings: [expect.objectContaining({ code: 'UNAVAILABLE', org: 'acme' })] });
      await globex.ingest([{ twinId: 'globex:mill-1', metric: 'force', at: new Date().toISOString(), value: 12 }]);
      expect(await events.next()).toEqual({ data: { twinEvents: { twinId: 'globex:mill-1' } } });

      // With the acme grant alone the connection is closed as "retry later".
      const closed = new Promise<number>((resolve) => {
        createClient({
          url: gateway.url.replace(/^http/, 'ws'),
          webSocketImpl: WebSocket,
          connectionParams: bearer(grant),
          retryAttempts: 0,
          lazy: false,
          onNonLazyError: () => undefined,
          on: { closed: (event) => resolve((event as { code: number }).code) },
        });
      });
      expect(await closed).toBe(ISSUER_UNAVAILABLE);
    });
  });

  it('keeps verifying its tokens on a gateway restarted while it is down, from the keys the gateway kept', async () => {
    const dir = await stateDir();
    const headers = bearer(await acme.memberToken('viewer', 'press-watcher'));
    const first = await startGateway(dir);
    expect(await graphql(first.url, LIST, undefined, headers)).toMatchObject({ status: 200 });
    await first.stop();
    await whileAcmeIsDown(async () => {
      const restarted = await startGateway(dir);
      const answer = await graphql(restarted.url, LIST, undefined, headers);
      expect(answer.status).toBe(200);
      expect(answer.errors).toBeUndefined();
      expect((answer as { extensions?: unknown }).extensions).toBeUndefined();
      // A gateway that kept nothing cannot check it.
      const forgetful = await startGateway();
      expect((await graphql(forgetful.url, LIST, undefined, headers)).status).toBe(503);
    });
  });

  it('refuses a key it retired while the gateway was down once it is back, and remembers that across restarts', async () => {
    const dir = await stateDir();
    const old = bearer(await acme.memberToken('viewer', 'old-key-holder'));
    const gateway = await startGateway(dir);
    expect((await graphql(gateway.url, LIST, undefined, old)).status).toBe(200);
    await gateway.stop();

    // Meanwhile acme rotates and retires the old key; the announcement is lost (it stands for a lost NATS store).
    const oldKid = (await acme.issuer.keys.signingKey()).kid;
    await createSigningKey(acme.db, KEY_SECRET);
    await acme.auth.sync();
    const fresh = bearer(await acme.memberToken('viewer', 'new-key-holder'));
    expect(await retireKey(acme.db, 'acme', oldKid)).toBe(true);
    await acmeNow.eventsPublished();
    await (await jetstreamManager(net.nats)).streams.purge(natsNames(net.subjectPrefix).revocationsStream);

    let restarted!: Gateway;
    await whileAcmeIsDown(async () => {
      restarted = await startGateway(dir);
    });
    // acme is back: the gateway learns the retirement from it, with no token asking.
    await eventually(async () => expect(await graphql(restarted.url, LIST, undefined, old)).toMatchObject({ status: 401 }));
    expect((await graphql(restarted.url, LIST, undefined, old)).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'INVALID' });
    expect((await graphql(restarted.url, LIST, undefined, fresh)).status).toBe(200);
    await restarted.stop();

    // Down again: a gateway started now still refuses the retired key and accepts the new one.
    await whileAcmeIsDown(async () => {
      const again = await startGateway(dir);
      expect((await graphql(again.url, LIST, undefined, old)).status).toBe(401);
      expect((await graphql(again.url, LIST, undefined, fresh)).status).toBe(200);
    });
  });

  it('sets aside at the directory too a grant signed by a key it could not learn', async () => {
    const member = await globex.memberToken('viewer', 'catalog-reader');
    await whileAcmeIsDown(async () => {
      // acme signs with a key made while it is down: nobody could read it from its JWKS yet.
      await createSigningKey(acme.db, KEY_SECRET);
      await acme.auth.sync();
      const { token: grant } = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { idGlobs: ['acme:*'] } });
      const answer = await graphql(net.directory.url, LIST, undefined, bearer(member, [grant]));
      expect(answer.status).toBe(200);
      expect(answer.data.twins.edges).toEqual([{ node: { id: 'globex:mill-1' } }]);
      const alone = await graphql(net.directory.url, LIST, undefined, bearer(grant));
      expect(alone.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', org: 'acme' });
    });
  });

  it('takes no key from the state directory for an issuer at another JWKS URL than the registered one', async () => {
    const { publicKey, privateKey } = await generateKeyPair('Ed25519', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'planted' };
    const token = await signToken(
      { kind: 'member', org: 'acme', jti: 'planted-1', subject: 'intruder', scopes: ['twins:read'], expiresAt: new Date(Date.now() + 60_000) },
      { kid: 'planted', privateKey },
    );
    const plant = async (jwksUrl: string) => {
      const dir = await stateDir();
      await writeFile(join(dir, 'keys.json'), JSON.stringify({ version: 1, orgs: { acme: { jwksUrl, keys: [{ kid: 'planted', jwk, retiredAt: null }] } } }));
      return dir;
    };
    const registered = acme.url.replace('/graphql', '/.well-known/jwks.json');
    await whileAcmeIsDown(async () => {
      const elsewhere = await startGateway(await plant('http://127.0.0.1:9/.well-known/jwks.json'));
      expect((await graphql(elsewhere.url, LIST, undefined, bearer(token))).status).toBe(503);
      // The same file at the registered URL is what the gateway itself would have written: trusted.
      const own = await startGateway(await plant(registered));
      expect((await graphql(own.url, LIST, undefined, bearer(token))).status).toBe(200);
    });
  });
});
