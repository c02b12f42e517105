// Closing access, measured on two gateways at once (they share nothing but NATS and the
// registry): from the moment access is closed until the last live subscription resting on it
// has ended, next to a raw NATS consumer receiving the same announcement in the same run.
//  1. revocation: an admin revokes a grant (GraphQL at the organization);
//  2. retirement: an organization retires a key (`twinx keys retire`) after rotating;
//  3. suspension: the network operator suspends a member (GraphQL at the directory), then
//     activates it again for the next round.
// Target: the slowest closure under 1 s.
//   npm run bench:closing [-- --rounds 20]
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { parseArgs } from 'node:util';
import type { WebSocket } from 'ws';
import { natsNames } from '../lib/nats.ts';
import { createSigningKey, retireKey } from '../subgraphs/org/auth/keys.ts';
import { startNetwork } from '../test/support/network.ts';
import { bearer, KEY_SECRET } from '../test/support/org.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { protocolSubscriber, subscriptionsServed } from '../test/support/subscriptions.ts';
import { percentile } from './support.ts';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } });
const ROUNDS = Number(args.rounds);

const QUERY = `subscription { twinEvents { type twinId } }`;

/** What one round closes: the tokens subscriptions rest on, how access is closed, how the raw consumer recognizes the announcement. */
interface Round {
  headers: Record<string, string>;
  close: () => Promise<unknown>;
  /** Is this message (on the raw consumer's subjects) the announcement of this round? */
  announces: (subject: string, data: unknown) => boolean;
  /** After the round: bring things back as they were, if needed. */
  after?: () => Promise<unknown>;
}

function show(name: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const stat = (p: number) => percentile(sorted, p).toFixed(2).padStart(7);
  console.log(`${name.padEnd(48)} p50 ${stat(50)} ms   p99 ${stat(99)} ms   max ${sorted.at(-1)!.toFixed(2).padStart(7)} ms`);
}

const disposers = new Disposers();
try {
  const net = await startNetwork(disposers, ['acme', 'globex']);
  const { acme, globex } = net.orgs as Required<typeof net.orgs>;
  await acme!.createTwin({ id: 'acme:press-1', name: 'Press', kind: 'press' });
  await globex!.createTwin({ id: 'globex:mill-1', name: 'Mill', kind: 'mill' });
  await net.catalogHas(['acme:press-1', 'globex:mill-1']);
  const gateways = [net.gateway, await net.startGateway()];
  const names = natsNames(net.subjectPrefix);
  const slowest: number[] = [];

  /**
   * Runs the rounds of one kind of closing: subscriptions on both gateways, then access closed,
   * timing each gateway's subscription end and the raw consumer's receipt of the announcement.
   */
  async function measure(title: string, rawSubjects: 'revocations' | 'network', round: (i: number) => Promise<Round>): Promise<void> {
    const raw: number[] = [];
    const closedOn: number[][] = gateways.map(() => []);
    let current: { round: Round; startedAt: number; seen: boolean } | undefined;
    const onRaw = (subject: string, data: unknown) => {
      if (current && !current.seen && current.round.announces(subject, data)) {
        current.seen = true;
        raw.push(performance.now() - current.startedAt);
      }
    };
    const stop: () => Promise<unknown> =
      rawSubjects === 'revocations'
        ? await (async () => {
            const messages = await (
              await jetstream(net.nats).consumers.get(names.revocationsStream, {
                filter_subjects: names.revocationsSubjects,
                deliver_policy: DeliverPolicy.New,
              })
            ).consume();
            void (async () => {
              for await (const message of messages) onRaw(message.subject, message.json());
            })();
            return () => messages.close();
          })()
        : (() => {
            const subscription = net.nats.subscribe(names.networkChangedSubject, { callback: (_error, message) => onRaw(message.subject, null) });
            return async () => subscription.unsubscribe();
          })();
    for (let i = 0; i < ROUNDS; i++) {
      const next = await round(i);
      const before = await Promise.all(gateways.map((gateway) => subscriptionsServed(gateway.url)));
      const sockets: WebSocket[] = await Promise.all(
        gateways.map((gateway, g) =>
          protocolSubscriber(gateway.url, next.headers, QUERY, (result) => {
            if (result.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED') closedOn[g]!.push(performance.now() - current!.startedAt);
          }),
        ),
      );
      await eventually(async () => {
        const now = await Promise.all(gateways.map((gateway) => subscriptionsServed(gateway.url)));
        if (now.some((count, g) => count !== before[g]! + 1)) throw new Error('subscriptions not started yet');
      });
      current = { round: next, startedAt: performance.now(), seen: false };
      await next.close();
      await eventually(async () => {
        if (closedOn.some((samples) => samples.length <= i) || raw.length <= i) throw new Error(`round ${i} not seen everywhere yet`);
      });
      for (const socket of sockets) socket.close();
      await next.after?.();
    }
    await stop();
    console.log(`\n${title}`);
    show('announcement -> raw NATS consumer (baseline)', raw);
    gateways.forEach((_, g) => show(`-> last subscription ended, gateway ${g + 1}`, closedOn[g]!));
    const all = closedOn.flat();
    slowest.push(Math.max(...all));
    show('-> ended, both gateways', all);
  }

  // 1. Revocation of a grant, by an admin, over GraphQL.
  await measure(`revocation: ${ROUNDS} grants revoked by an admin (GraphQL), time from the request`, 'revocations', async () => {
    const grant = await acme!.grantToken({ partner: 'globex', scopes: ['twins:subscribe'], selector: { ids: ['acme:press-1'] } });
    return {
      headers: bearer(grant.token),
      close: () => acme!.request(`mutation($jti: ID!) { acme { revokeGrant(jti: $jti) { active } } }`, { jti: grant.jti }),
      announces: (_subject, data) => (data as { jti?: string }).jti === grant.jti,
    };
  });

  // 2. Retirement of a key, after a rotation, as `twinx keys retire` does it (another process).
  await measure(`retirement: ${ROUNDS} keys retired after a rotation (twinx keys retire), time from the retirement`, 'revocations', async () => {
    const headers = bearer(await acme!.memberToken('viewer', 'dashboard'));
    const { kid } = await acme!.issuer.keys.signingKey();
    await createSigningKey(acme!.db, KEY_SECRET);
    return {
      headers,
      close: () => retireKey(acme!.db, 'acme', kid),
      announces: (_subject, data) => (data as { kid?: string }).kid === kid,
    };
  });

  // 3. Suspension of a member by the network operator, then its activation for the next round.
  await measure(`suspension: ${ROUNDS} suspensions by the network operator (GraphQL at the directory), time from the request`, 'network', async () => {
    const headers = bearer(await globex!.memberToken('viewer', 'dashboard'));
    return {
      headers,
      close: () => net.admin(`mutation { network { suspendOrganization(slug: "globex") { status } } }`),
      announces: () => true,
      after: async () => {
        await net.admin(`mutation { network { activateOrganization(slug: "globex") { status } } }`);
        // Back at both gateways before the next round subscribes.
        await eventually(async () => {
          for (const gateway of gateways) {
            const response = await fetch(gateway.url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...headers },
              body: '{"query":"{ __typename }"}',
            });
            if (response.status !== 200) throw new Error(`globex not back at ${gateway.url}`);
          }
        });
      },
    };
  });

  console.log(`\nslowest closure of all: ${Math.max(...slowest).toFixed(2)} ms (target: under 1000 ms)`);
} finally {
  await disposers.dispose();
}
