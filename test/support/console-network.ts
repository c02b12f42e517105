import { jetstream } from '@nats-io/jetstream';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_CONSOLE_DIR } from '../../gateway/console/serve.ts';
import type { Gateway } from '../../gateway/server.ts';
import { DEMO_GRANTS, DEMO_ORGS, DEMO_TWINS } from '../../demo/seed.ts';
import { natsNames } from '../../lib/nats.ts';
import { ROLES } from '../../lib/tokens/scopes.ts';
import { issueMemberToken } from '../../subgraphs/org/grants/store.ts';
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
}

export async function startConsoleNetwork(disposers: Disposers): Promise<ConsoleNetwork> {
  if (!existsSync(join(BUILT_CONSOLE_DIR, 'index.html'))) throw new Error('the console is not built: run node scripts/build-console.mjs');
  const net = await startNetwork(
    disposers,
    DEMO_ORGS.map((org) => org.slug),
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
  const gateway = await net.startGateway({
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
  });
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
    gateway,
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
  };
}
