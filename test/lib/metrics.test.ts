import { jetstream } from '@nats-io/jetstream';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { listen, sendJson } from '../../lib/http.ts';
import { createLogger } from '../../lib/logger.ts';
import { natsNames } from '../../lib/nats.ts';
import { initOrg, startOrgSubgraph } from '../../subgraphs/org/main.ts';
import { graphql } from '../support/graphql.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { bearer, KEY_SECRET, type TestOrg } from '../support/org.ts';
import { createStore, Disposers, eventually, onServer, randomName } from '../support/services.ts';
import { connect, endOfStream, subscribe, type TestSubscription } from '../support/subscriptions.ts';

/**
 * Every service's Prometheus metrics, scraped over HTTP from the listener of their own while the
 * services do real work: requests, ingest, events, subscriptions, composition, partners' accesses.
 */

const disposers = new Disposers();
let net: TestNetwork;
let globex: TestOrg;
let gateway: Gateway;
let partner: { token: string; jti: string };

/** The samples of one scrape, by metric name and labels. */
interface Scrape {
  /** A sample's value; 0 when absent (a series appears when first counted). */
  value(name: string, labels?: Record<string, string>): number;
  /** Every sample of a metric. */
  samples(name: string): { labels: Record<string, string>; value: number }[];
}

/** Reads the Prometheus text format. */
async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const all = (await response.text())
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [, name, labels = '', value] = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)!;
      return { name: name!, labels: Object.fromEntries([...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!])), value: Number(value) };
    });
  const samples = (name: string) => all.filter((sample) => sample.name === name);
  return {
    samples,
    value: (name, labels = {}) =>
      samples(name).find((sample) => Object.keys({ ...labels, ...sample.labels }).every((key) => sample.labels[key] === labels[key]))?.value ?? 0,
  };
}

/** How much each sample moved between two scrapes. */
function moved(before: Scrape, after: Scrape) {
  return (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
}

const OPERATIONS = 'twinx_graphql_operation_duration_seconds_count';

function publicMetricsPath(graphqlUrl: string): string {
  return graphqlUrl.replace('/graphql', '/metrics');
}

/** A token the organization signed for `acme`, its subject changed: refused, with a partner only claimed. */
function forged(token: string, sub: string): string {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
  return `${header}.${Buffer.from(JSON.stringify({ ...claims, sub })).toString('base64url')}.${signature}`;
}

beforeAll(async () => {
  net = await startNetwork(disposers, ['acme', 'globex']);
  globex = net.orgs.globex!;
  gateway = await net.startGateway({ accessReportMs: 100 });
  await globex.createTwin({ id: 'globex:mill-1', name: 'Mill 1', kind: 'mill', metrics: [{ name: 'force', unit: 'kN' }] });
  await net.catalogHas(['globex:mill-1']);
  partner = await globex.grantToken({ partner: 'acme', scopes: ['twins:read', 'twins:subscribe'], selector: { ids: ['globex:mill-1'] } });
});
afterAll(() => disposers.dispose());

describe('metrics endpoints', () => {
  it('serves /metrics on a listener of its own on 127.0.0.1, with the process metrics, and not on the public port', async () => {
    for (const { url, metricsUrl } of [gateway, net.directory, globex]) {
      expect(new URL(metricsUrl).hostname).toBe('127.0.0.1');
      expect(new URL(metricsUrl).port).not.toBe(new URL(url).port);
      const metrics = await scrape(metricsUrl);
      // CPU time counts from the metrics' registration, in clock ticks: it may still read 0 just after.
      expect(metrics.samples('process_cpu_user_seconds_total')).toHaveLength(1);
      expect(metrics.samples('nodejs_eventloop_lag_seconds')).toHaveLength(1);
      // Per-partner counts are business: the public port does not serve them.
      expect((await fetch(publicMetricsPath(url))).status).toBe(404);
      expect((await fetch(metricsUrl.replace('/metrics', '/graphql'))).status).toBe(404);
    }
  });
});

describe('GraphQL operations and errors', () => {
  it('counts requests by operation type and name, with their latency, and errors by code', async () => {
    const before = await scrape(gateway.metricsUrl);
    const headers = bearer(await net.orgs.acme!.memberToken('viewer'), [partner.token]);
    for (let i = 0; i < 2; i++)
      expect((await graphql(gateway.url, 'query Mills { twins(first: 5) { edges { node { id } } } }', undefined, headers)).errors).toBeUndefined();
    expect((await graphql(gateway.url, '{ twin(id: "globex:mill-1") { name } }', undefined, headers)).errors).toBeUndefined();
    expect((await graphql(gateway.url, '{ twins(', undefined, headers)).errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect((await graphql(gateway.url, '{ __typename }', undefined, bearer('not-a-token'))).status).toBe(401);
    const after = await scrape(gateway.metricsUrl);
    const delta = moved(before, after);
    expect(delta(OPERATIONS, { operation_type: 'query', operation_name: 'Mills' })).toBe(2);
    expect(delta(OPERATIONS, { operation_type: 'query', operation_name: '(anonymous)' })).toBe(1);
    expect(delta(OPERATIONS, { operation_type: '(none)', operation_name: '(none)' })).toBe(1);
    expect(delta('twinx_graphql_operation_duration_seconds_sum', { operation_type: 'query', operation_name: 'Mills' })).toBeGreaterThan(0);
    expect(delta('twinx_graphql_errors_total', { code: 'GRAPHQL_PARSE_FAILED' })).toBe(1);
    expect(delta('twinx_graphql_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
  });

  it('keeps operation names to a bounded number of series, the rest under (other)', async () => {
    const before = await scrape(net.directory.metricsUrl);
    for (let i = 0; i < 120; i++) expect((await net.admin(`query Made${i} { __typename }`)).status).toBe(200);
    const after = await scrape(net.directory.metricsUrl);
    const names = new Set(after.samples(OPERATIONS).map((sample) => sample.labels.operation_name!));
    expect([...names].filter((name) => !name.startsWith('(')).length).toBe(100);
    expect(moved(before, after)(OPERATIONS, { operation_type: 'query', operation_name: '(other)' })).toBeGreaterThanOrEqual(20);
  });
});

describe('an organization', () => {
  it('counts device batches, readings, ingest lag and dead letters, and its consumer’s backlog', async () => {
    const before = await scrape(globex.metricsUrl);
    const js = jetstream(net.nats);
    const subject = natsNames(net.subjectPrefix).ingestSubject('globex');
    const readings = [1, 2, 3].map((minute) => ({
      twinId: 'globex:mill-1',
      metric: 'force',
      at: new Date(Date.UTC(2026, 1, 1, 0, minute)).toISOString(),
      value: minute,
    }));
    await js.publish(subject, JSON.stringify({ readings }));
    await js.publish(subject, JSON.stringify({ readings: readings.slice(0, 1) }));
    await js.publish(subject, '{not json');
    await eventually(async () => {
      const delta = moved(before, await scrape(globex.metricsUrl));
      expect(delta('twinx_ingest_batches_total')).toBe(2);
      expect(delta('twinx_ingest_dead_letters_total', { code: 'INVALID_INPUT' })).toBe(1);
    });
    const after = await scrape(globex.metricsUrl);
    const delta = moved(before, after);
    expect(delta('twinx_ingest_readings_total', { result: 'accepted' })).toBe(3);
    expect(delta('twinx_ingest_readings_total', { result: 'duplicate' })).toBe(1);
    expect(delta('twinx_ingest_lag_seconds_count')).toBe(2);
    expect(after.value('twinx_ingest_consumer_pending_messages')).toBe(0);
  });

  it('serves its metrics before the network operator created its streams, the ingest consumer’s backlog unknown (NaN)', async () => {
    const store = await createStore('org');
    disposers.add(store.drop);
    const config = { org: 'umbrella', databaseUrl: store.url, keySecret: KEY_SECRET };
    await initOrg(config, 'test', 3_600_000);
    const { subgraph, stop } = await startOrgSubgraph(
      { ...config, subjectPrefix: randomName('t'), port: 0, host: '127.0.0.1' },
      net.nats,
      createLogger('test', 'silent'),
    );
    disposers.add(stop);
    const metrics = await scrape(subgraph.metricsUrl);
    expect(metrics.value('twinx_ingest_consumer_pending_messages')).toBeNaN();
    expect(metrics.value('twinx_ingest_consumer_unacknowledged_messages')).toBeNaN();
    expect(metrics.value('twinx_outbox_pending_events')).toBe(0);
  });

  it('reports the outbox’s pending events and the age of the oldest, until they are published', async () => {
    await globex.eventsPublished();
    // The publisher takes this lock for each batch (one publisher per organization): held, nothing is published.
    await onServer(async (client) => {
      await client.query('SELECT pg_advisory_lock($1)', [0x7477696e]);
      await globex.createTwin({ id: 'globex:mill-2', name: 'Mill 2', kind: 'mill' });
      const held = await scrape(globex.metricsUrl);
      expect(held.value('twinx_outbox_pending_events')).toBe(1);
      expect(held.value('twinx_outbox_oldest_pending_age_seconds')).toBeGreaterThan(0);
    }, globex.databaseUrl);
    await globex.eventsPublished();
    const published = await scrape(globex.metricsUrl);
    expect(published.value('twinx_outbox_pending_events')).toBe(0);
    expect(published.value('twinx_outbox_oldest_pending_age_seconds')).toBe(0);
  });

  it('counts partners’ accesses by partner and outcome, refused claims under one label whatever they claim', async () => {
    const before = await scrape(globex.metricsUrl);
    const read = await globex.request('{ globex { twin(id: "globex:mill-1") { name } } }', undefined, bearer(partner.token));
    expect(read.data.globex.twin).toEqual({ name: 'Mill 1' });
    const refused = await globex.request(
      '{ globex { twin(id: "globex:mill-1") { telemetry(metric: "force", first: 1) { edges { node { value } } } } } }',
      undefined,
      bearer(partner.token),
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    for (let i = 0; i < 3; i++) expect((await globex.request('{ __typename }', undefined, bearer(forged(partner.token, `claimed-${i}`)))).status).toBe(401);
    const after = await scrape(globex.metricsUrl);
    const delta = moved(before, after);
    // The second request read the twin too, and was refused its telemetry.
    expect(delta('twinx_partner_accesses_total', { partner: 'acme', action: 'read', outcome: 'allowed' })).toBe(2);
    expect(delta('twinx_partner_accesses_total', { partner: 'acme', action: 'read', outcome: 'refused' })).toBe(1);
    expect(delta('twinx_partner_accesses_total', { partner: '(unverified)', action: 'authenticate', outcome: 'refused' })).toBe(3);
    expect(after.samples('twinx_partner_accesses_total').some((sample) => sample.labels.partner!.startsWith('claimed-'))).toBe(false);
  });
});

describe('the gateway', () => {
  it('counts open subscriptions, deliveries and their lag, live and resumed; the owner counts the deliveries to its partner', async () => {
    const before = await scrape(gateway.metricsUrl);
    const orgBefore = await scrape(globex.metricsUrl);
    const headers = bearer(await net.orgs.acme!.memberToken('viewer'), [partner.token]);
    const after = await endOfStream(net);
    const client = connect(gateway.url, headers);
    disposers.add(async () => client.dispose());
    const query =
      'subscription($after: String) { twinEvents(filter: { orgs: ["globex"], types: [STATE] }, after: $after) { twinId state { metrics { value } } } }';
    const reading = async (value: number) => {
      await globex.ingest([{ twinId: 'globex:mill-1', metric: 'force', at: new Date(Date.UTC(2026, 2, 1, 0, value)).toISOString(), value }]);
      await globex.eventsPublished();
    };
    const valueOf = async (subscription: TestSubscription) => (await subscription.next()).data.twinEvents.state.metrics[0].value;
    // An event live to one subscription, replayed to the one resuming from before it; then one live to both (shared).
    const live = subscribe(client, query);
    await eventually(async () => expect(moved(before, await scrape(gateway.metricsUrl))('twinx_subscriptions_open')).toBe(1));
    await reading(1);
    expect(await valueOf(live)).toBe(1);
    const resumed = subscribe(client, query, { after });
    expect(await valueOf(resumed)).toBe(1);
    await reading(2);
    for (const subscription of [resumed, live]) expect(await valueOf(subscription)).toBe(2);
    const delivered = moved(before, await scrape(gateway.metricsUrl));
    expect(delivered('twinx_subscription_deliveries_total')).toBe(4);
    expect(delivered('twinx_subscription_delivery_lag_seconds_count', { resumed: 'true' })).toBe(1);
    expect(delivered('twinx_subscription_delivery_lag_seconds_count', { resumed: 'false' })).toBe(2);
    await Promise.all([resumed.close(), live.close()]);
    await eventually(async () => expect(moved(before, await scrape(gateway.metricsUrl))('twinx_subscriptions_open')).toBe(0));
    await eventually(async () =>
      expect(
        moved(orgBefore, await scrape(globex.metricsUrl))('twinx_partner_accesses_total', { partner: 'acme', action: 'deliver', outcome: 'allowed' }),
      ).toBe(4),
    );
  });

  it('reports the composition: members composed, refused, unreachable, rounds, failures, last success', async () => {
    const before = await scrape(gateway.metricsUrl);
    expect(before.value('twinx_composition_members', { state: 'composed' })).toBe(2);
    expect(before.value('twinx_composition_members', { state: 'refused' })).toBe(0);
    expect(before.value('twinx_composition_members', { state: 'unreachable' })).toBe(0);
    expect(before.value('twinx_compositions_total')).toBeGreaterThanOrEqual(1);
    expect(before.value('twinx_composition_failures_total')).toBe(0);
    expect(before.value('twinx_composition_last_success_timestamp_seconds')).toBeGreaterThan(0);
    // Members joining are announced: the gateway composes them in a new round. Mallory serves
    // what the organization template does not make.
    const mallory = createServer((_req, res) => sendJson(res, 200, { data: { _service: { sdl: 'type Query { mallory: Int }' } } }));
    disposers.add(async () => mallory.close());
    const initech = await net.startOrg('initech');
    await net.join(initech);
    await net.join({ org: 'mallory', url: await listen(mallory, 0, '127.0.0.1') });
    await eventually(async () => {
      const composition = await scrape(gateway.metricsUrl);
      expect(composition.value('twinx_composition_members', { state: 'composed' })).toBe(3);
      expect(composition.value('twinx_composition_members', { state: 'refused' })).toBe(1);
    });
    // Initech goes down: composed from the template at the next round.
    await initech.stop();
    await net.directory.membershipChanged();
    await eventually(async () => expect((await scrape(gateway.metricsUrl)).value('twinx_composition_members', { state: 'unreachable' })).toBe(1));
    const after = await scrape(gateway.metricsUrl);
    expect(after.value('twinx_compositions_total')).toBeGreaterThan(before.value('twinx_compositions_total'));
    expect(after.value('twinx_composition_last_success_timestamp_seconds')).toBeGreaterThanOrEqual(
      before.value('twinx_composition_last_success_timestamp_seconds'),
    );
  });
});
