// Issue 11: a database that goes away and comes back. Readings keep arriving from devices and a
// subscriber keeps listening while the Postgres server of an organization and of the directory
// stops (fast shutdown: 57P01 on open connections, then connections refused) or refuses
// connections while shutting down (57P03). Nothing is dead-lettered, lost or stored twice; callers
// get UNAVAILABLE with no detail; `/readyz` names the database; events resume within 5 s.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { natsNames } from '../../lib/nats.ts';
import { codes, type GraphQLResponse } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer } from '../support/org.ts';
import { startPostgresServer, type OwnPostgresServer } from '../support/postgres-server.ts';
import { Disposers, onServer } from '../support/services.ts';
import { connect, subscribe } from '../support/subscriptions.ts';

const disposers = new Disposers();
let pgServer: OwnPostgresServer;
let net: TestNetwork;
let viewer: Record<string, string>;

/** Events the subscriber received, with when. */
const received: { ms: number; cursor: string; value: number }[] = [];

/** A device publishing one reading every 100 ms, each at its own time, the value counting up. */
const device = { published: 0, stopped: false, done: Promise.resolve() };

function startDevice(): void {
  const subject = natsNames(net.subjectPrefix).ingestSubject('acme');
  const js = jetstream(net.nats);
  device.done = (async () => {
    while (!device.stopped) {
      const value = device.published + 1;
      const at = new Date(Date.UTC(2026, 0, 1) + value * 1000).toISOString();
      await js.publish(subject, JSON.stringify({ readings: [{ twinId: 'acme:press-1', metric: 'temperature', at, value }] }));
      device.published = value;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
}

/** Resolves once the device has published `count` more readings: how long an outage lasts. */
function published(count: number): Promise<void> {
  const target = device.published + count;
  return vi.waitFor(() => expect(device.published).toBeGreaterThanOrEqual(target), { timeout: 60_000, interval: 50 });
}

async function readyz(graphqlUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(graphqlUrl.replace('/graphql', '/readyz'));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Both services say they are not ready, naming the database (on /readyz and in their metrics); callers at the organization and through the gateway get UNAVAILABLE, and nothing more. */
async function expectHonestOutage(): Promise<void> {
  await vi.waitFor(
    async () => {
      for (const url of [net.orgs.acme!.url, net.directory.url]) {
        const { status, body } = await readyz(url);
        expect(status).toBe(503);
        expect(body).toMatchObject({ status: 'unavailable', database: false, nats: true });
      }
      // What gateways poll meanwhile is answered, not a crash of the organization.
      const revocations = await fetch(net.orgs.acme!.url.replace('/graphql', '/.well-known/twinx/revocations'));
      expect(revocations.status).toBe(503);
      expect(await revocations.json()).toMatchObject({ errors: [{ extensions: { code: 'UNAVAILABLE' } }] });
      for (const { metricsUrl } of [net.orgs.acme!, net.directory]) {
        const text = await (await fetch(metricsUrl)).text();
        expect(text).toMatch(/^twinx_dependency_up\{dependency="database"\} 0$/m);
      }
    },
    { timeout: 10_000, interval: 100 },
  );
  const answers: GraphQLResponse[] = [
    await net.orgs.acme!.request(`{ acme { twin(id: "acme:press-1") { name state { status } } } }`, {}, viewer),
    await net.query(`{ twin(id: "acme:press-1") { name } }`, {}, viewer),
  ];
  for (const answer of answers) {
    expect(codes(answer).length).toBeGreaterThan(0);
    expect(new Set(codes(answer))).toEqual(new Set(['UNAVAILABLE']));
    expect(JSON.stringify(answer)).not.toMatch(/57P0|Prisma|postgres|127\.0\.0\.1|ECONN|terminat/i);
  }
}

/** The database is back (since `returnedAt`, when it was started): both services ready again, and events flowing within 5 s. */
async function expectRecovery(returnedAt: number): Promise<void> {
  await vi.waitFor(() => expect(received.some((event) => event.ms > returnedAt)).toBe(true), { timeout: 30_000, interval: 20 });
  const firstAfter = received.find((event) => event.ms > returnedAt)!;
  expect(firstAfter.ms - returnedAt).toBeLessThan(5000);
  await vi.waitFor(
    async () => {
      for (const url of [net.orgs.acme!.url, net.directory.url]) expect((await readyz(url)).status).toBe(200);
      // Changes announced by NOTIFY (registry, revocations, keys) are heard again.
      const { rows } = await onServer(
        (client) => client.query<{ name: string }>(`SELECT DISTINCT application_name AS name FROM pg_stat_activity`),
        pgServer.url,
      );
      expect(rows.map((row) => row.name)).toEqual(expect.arrayContaining(['twinx-directory-changes', 'twinx-auth-listener']));
    },
    { timeout: 5000, interval: 100 },
  );
}

beforeAll(async () => {
  pgServer = await startPostgresServer();
  disposers.add(() => pgServer.dispose());
  net = await startNetwork(disposers, ['acme'], { postgresUrl: pgServer.url });
  await net.orgs.acme!.createTwin({ id: 'acme:press-1', name: 'Press', kind: 'press', metrics: [{ name: 'temperature', unit: 'C' }] });
  viewer = bearer(await net.orgs.acme!.memberToken('viewer', 'engineer'));
  const client = connect(net.gateway.url, viewer);
  disposers.add(async () => client.dispose());
  const sub = subscribe(client, `subscription { twinEvents(filter: { twinIds: ["acme:press-1"], types: [STATE] }) { cursor state { metrics { value } } } }`);
  void (async () => {
    for (;;) {
      const { data } = await sub.next();
      received.push({ ms: Date.now(), cursor: data.twinEvents.cursor, value: data.twinEvents.state.metrics[0].value });
    }
  })();
  startDevice();
  disposers.add(async () => {
    device.stopped = true;
    await device.done;
  });
  await vi.waitFor(() => expect(received.length).toBeGreaterThan(3), { timeout: 20_000 });
}, 120_000);
// A test that failed half-way leaves the server running for the next.
afterEach(() => pgServer.start());
afterAll(() => disposers.dispose(), 60_000);

describe('an organization’s and the directory’s Postgres going away', () => {
  it('stopped (57P01, then refused) for longer than a batch may fail: says so, dead-letters nothing, recovers within 5 s', async () => {
    await pgServer.stop('fast');
    await expectHonestOutage();
    // Longer than the deliveries a failing batch gets before it is dead-lettered.
    await published(100);
    const returning = Date.now();
    await pgServer.start();
    await expectRecovery(returning);
  }, 120_000);

  it('refusing new connections while shutting down (57P03): says so, dead-letters nothing, recovers within 5 s', async () => {
    // One session keeps a smart shutdown waiting; the services' sessions are ended, and every
    // connection they open again is refused with 57P03.
    const held = new pg.Client({ connectionString: pgServer.url });
    held.on('error', () => undefined);
    await held.connect();
    await pgServer.stop('smart');
    try {
      await held.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`);
      await expectHonestOutage();
      await published(100);
    } finally {
      // The shutdown completes (ending the session it waited for), and the server starts again.
      await pgServer.stop('fast');
      await held.end().catch(() => undefined);
    }
    const returning = Date.now();
    await pgServer.start();
    await expectRecovery(returning);
  }, 120_000);

  it('stored every reading once, and dead-lettered none', async () => {
    device.stopped = true;
    await device.done;
    const names = natsNames(net.subjectPrefix);
    const jsm = await jetstreamManager(net.nats);
    // Together, so that a reading missing says whether it was dead-lettered.
    await vi.waitFor(
      async () =>
        expect({
          stored: await net.orgs.acme!.db.reading.count(),
          deadLettered: (await jsm.streams.info(names.deadLetterStream('acme'))).state.messages,
        }).toEqual({ stored: device.published, deadLettered: 0 }),
      { timeout: 30_000, interval: 200 },
    );
    const values = (await net.orgs.acme!.db.reading.findMany({ select: { value: true } })).map((reading) => reading.value);
    expect(new Set(values).size).toBe(device.published);
    // The subscriber got each event once, up to the state of the last reading.
    await vi.waitFor(() => expect(received.at(-1)!.value).toBe(device.published), { timeout: 10_000 });
    expect(new Set(received.map((event) => event.cursor)).size).toBe(received.length);
  }, 60_000);
});
