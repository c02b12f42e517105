import { jetstream } from '@nats-io/jetstream';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_CONSOLE_DIR } from '../../gateway/console/serve.ts';
import { createGateway, type Gateway } from '../../gateway/server.ts';
import { DEMO_GRANTS, DEMO_ORGS, DEMO_TWINS } from '../../demo/seed.ts';
import { natsNames } from '../../lib/nats.ts';
import { ROLES } from '../../lib/tokens/scopes.ts';
import { Access, unrestricted } from '../../subgraphs/org/access.ts';
import { issueMemberToken } from '../../subgraphs/org/grants/store.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { DEFAULT_LIMITS } from '../../subgraphs/org/server.ts';
import { createTwin } from '../../subgraphs/org/twins/store.ts';
import { graphql } from './graphql.ts';
import { startNetwork, type TestNetwork } from './network.ts';
import { bearer } from './org.ts';
import type { Disposers } from './services.ts';

const DAY = 86_400_000;

/** The demo's network (its organizations, twins and grants to ACME) with a gateway serving the built console. */
export interface ConsoleNetwork {
  net: TestNetwork;
  gateway: Gateway;
  /** `http://host:port/` of the console. */
  consoleUrl: string;
  /** ACME's engineer: an ACME viewer who may read analytics. */
  engineerToken: string;
  /** The suppliers' grants to ACME, by supplier. */
  grants: Record<string, { token: string; jti: string }>;
  /** A new grant of `org` to ACME, as the demo's. */
  grant: (org: string) => Promise<{ token: string; jti: string }>;
  /** A reading of a twin's metric, sent by a device of its organization through NATS. */
  publishReading: (twinId: string, metric: string, value: number) => Promise<void>;
  /** An admin of `org` asking the gateway, as the console or any client would. */
  asAdmin: <T = any>(org: string, query: string, variables?: Record<string, unknown>) => ReturnType<typeof graphql<T>>;
  /** A new member token of `org` and its id. */
  memberToken: (org: string, subject: string) => Promise<{ token: string; jti: string }>;
  /** Twins made straight in `org`'s store, many at once (a large network), their events published. */
  addTwins: (org: string, twins: Record<string, unknown>[]) => Promise<void>;
  /** Stops the gateway (its WebSocket connections closed) and, once `whileDown` is done, starts it again at the same address. */
  restartGateway: (whileDown: () => Promise<void>) => Promise<void>;
}

/** Twins created at once in one organization's store: as many as its pool has connections (test/support/org.ts). */
const CREATE_BATCH = 4;

export async function startConsoleNetwork(disposers: Disposers): Promise<ConsoleNetwork> {
  if (!existsSync(join(BUILT_CONSOLE_DIR, 'index.html'))) throw new Error('the console is not built: run node scripts/build-console.mjs');
  const net = await startNetwork(
    disposers,
    DEMO_ORGS.map((org) => org.slug),
    { names: Object.fromEntries(DEMO_ORGS.map((org) => [org.slug, org.name])) },
  );
  // Suppliers first: each twin names its suppliers.
  for (const slug of ['initech', 'globex', 'acme']) for (const twin of DEMO_TWINS[slug]!) await net.orgs[slug]!.createTwin(twin);
  await net.catalogHas(Object.values(DEMO_TWINS).flatMap((twins) => twins.map((twin) => twin.id as string)));
  // The CNC mill's last hour, a reading a minute: its page has a history to chart.
  const start = Date.now() - 60 * 60_000;
  await net.orgs.acme!.ingest(
    Array.from({ length: 60 }, (_, minute) => [
      {
        twinId: 'acme:cnc-1',
        metric: 'temperature',
        at: new Date(start + minute * 60_000).toISOString(),
        value: Math.round(300 + 50 * Math.sin(minute / 6)) / 10,
      },
      {
        twinId: 'acme:cnc-1',
        metric: 'vibration',
        at: new Date(start + minute * 60_000).toISOString(),
        value: Math.round(20 + 10 * Math.cos(minute / 4)) / 10,
      },
    ]).flat(),
  );
  const memberToken = async (org: string, subject: string) =>
    issueMemberToken(net.orgs[org]!.issuer, 'test', { subject, scopes: [...ROLES.viewer, 'analytics:read'], expiresAt: new Date(Date.now() + DAY) });
  const engineerToken = (await memberToken('acme', 'engineer')).token;
  const grant = (org: string) => {
    const { scopes, selector } = DEMO_GRANTS.find((demo) => demo.org === org)!;
    return net.orgs[org]!.grantToken({ partner: 'acme', scopes, selector });
  };
  const grants: ConsoleNetwork['grants'] = {};
  for (const { org } of DEMO_GRANTS) grants[org] = await grant(org);
  const gatewayOptions = {
    consoleDir: BUILT_CONSOLE_DIR,
    demoPersonas: [
      {
        id: 'acme-engineer',
        name: 'ACME engineer',
        headers: bearer(
          engineerToken,
          Object.values(grants).map((grant) => grant.token),
        ),
      },
      { id: 'globex-admin', name: 'Globex admin', headers: bearer(net.orgs.globex!.adminToken) },
    ],
  };
  // Started here rather than by the test network, which would stop it again at the end: it restarts.
  const startGateway = async (port = 0) => {
    const started = createGateway({ ...net.gatewayOptions, ...gatewayOptions, port });
    await started.start();
    return started;
  };
  let gateway = await startGateway();
  disposers.add(() => gateway.stop());
  const devices = new Map<string, ReturnType<typeof jetstream>>();
  const deviceOf = async (org: string) => {
    if (!devices.has(org)) {
      const nats = await net.bus.connect({ kind: 'device', org, device: 'sensor' });
      disposers.add(() => nats.drain());
      devices.set(org, jetstream(nats));
    }
    return devices.get(org)!;
  };
  return {
    net,
    get gateway() {
      return gateway;
    },
    consoleUrl: gateway.consoleUrl!,
    engineerToken,
    grants,
    grant,
    publishReading: async (twinId, metric, value) => {
      const org = twinId.split(':')[0]!;
      const readings = [{ twinId, metric, value, at: new Date().toISOString() }];
      await (await deviceOf(org)).publish(natsNames(net.subjectPrefix).ingestSubject(org), JSON.stringify({ readings }));
    },
    asAdmin: (org, query, variables) => graphql(gateway.url, query, variables, bearer(net.orgs[org]!.adminToken)),
    memberToken,
    addTwins: async (org, twins) => {
      const base = { db: net.orgs[org]!.db, names: orgNames(org), access: new Access(unrestricted('member', 'test'), org), limits: DEFAULT_LIMITS };
      for (let i = 0; i < twins.length; i += CREATE_BATCH) await Promise.all(twins.slice(i, i + CREATE_BATCH).map((twin) => createTwin(base, twin)));
      await net.orgs[org]!.eventsPublished();
    },
    restartGateway: async (whileDown) => {
      await gateway.stop();
      await whileDown();
      gateway = await startGateway(Number(new URL(gateway.url).port));
    },
  };
}
