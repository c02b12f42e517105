// Gateway cost: a single-organization twin query through the gateway versus the same query sent
// straight to the organization's subgraph, and a three-organization list through the gateway;
// requests/s and p50/p99 side by side in one run.
//   npm run bench:gateway [-- --requests 500 --rounds 4 --concurrency 8]
import { parseArgs } from 'node:util';
import { Access, unrestricted } from '../subgraphs/org/access.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { ingestReadings } from '../subgraphs/org/telemetry/ingest.ts';
import { createTwin } from '../subgraphs/org/twins/store.ts';
import { startNetwork } from '../test/support/network.ts';
import { bearer } from '../test/support/org.ts';
import { Disposers } from '../test/support/services.ts';
import { Contender, postGraphQL, report } from './support.ts';

const { values: args } = parseArgs({
  options: { requests: { type: 'string', default: '500' }, rounds: { type: 'string', default: '4' }, concurrency: { type: 'string', default: '8' } },
});
const [requests, rounds, concurrency] = [Number(args.requests), Number(args.rounds), Number(args.concurrency)];
const ORGS = ['acme', 'globex', 'initech'];
const TWINS_PER_ORG = 40;

const disposers = new Disposers();
try {
  // One client measures throughput: the per-token rate limit would measure itself.
  const net = await startNetwork(disposers, ORGS, { gateway: { rateLimit: { perSecond: 1e9, burst: 1e9 } } });
  const ids: string[] = [];
  for (const slug of ORGS) {
    const org = net.orgs[slug]!;
    const base = {
      db: org.db,
      names: orgNames(slug),
      access: new Access(unrestricted('member', 'bench'), slug),
      limits: { maxIngestBatch: 5000, maxPageSize: 500, maxBuckets: 10_000 },
    };
    for (let i = 0; i < TWINS_PER_ORG; i++) {
      const id = `${slug}:m-${String(i).padStart(3, '0')}`;
      await createTwin(base, { id, name: `Machine ${i}`, kind: 'cnc-mill', tags: ['bench'], metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }] });
      ids.push(id);
    }
    await ingestReadings(
      { ...base, access: new Access(unrestricted('device', 'bench', ['telemetry:write']), slug) },
      ids.filter((id) => id.startsWith(`${slug}:`)).map((twinId, i) => ({ twinId, metric: 'temperature', at: new Date().toISOString(), value: 20 + i })),
    );
    await org.eventsPublished();
  }
  await net.catalogHas(ids);

  const fields = 'id name kind tags state { status updatedAt metrics { metric value at } }';
  const acme = net.orgs.acme!;
  const acmeHeaders = bearer(acme.adminToken);
  // An ACME engineer holding grants of both suppliers: the directory routes each twin to its organization.
  const grants = [];
  for (const slug of ['globex', 'initech'])
    grants.push((await net.orgs[slug]!.grantToken({ partner: 'acme', scopes: ['twins:read'], selector: { tags: ['bench'] } })).token);
  const allTokens = bearer(acme.adminToken, grants);

  const direct = postGraphQL(acme.url, acmeHeaders, { query: `{ acme { twin(id: "acme:m-007") { ${fields} } } }` }, (d) => d.acme.twin.id === 'acme:m-007');
  const viaGateway = postGraphQL(net.gateway.url, acmeHeaders, { query: `{ twin(id: "acme:m-007") { ${fields} } }` }, (d) => d.twin.id === 'acme:m-007');
  const networkList = postGraphQL(
    net.gateway.url,
    allTokens,
    { query: `{ twins(first: 30, filter: { tags: ["bench"] }) { edges { node { ${fields} } } } }` },
    (d) => d.twins.edges.length === 30,
  );

  const baseline = new Contender('one twin, straight to the org (baseline)');
  const single = new Contender('one twin, through the gateway');
  const list = new Contender('30 twins of 3 orgs, through the gateway');
  const warmup = new Contender('warm-up');
  for (const run of [direct, viaGateway, networkList]) await warmup.load(run, 100, concurrency);
  for (let round = 0; round < rounds; round++) {
    await baseline.load(direct, requests, concurrency);
    await single.load(viaGateway, requests, concurrency);
    await list.load(networkList, requests / 5, concurrency);
  }
  report(`gateway: ${rounds} rounds, concurrency ${concurrency}, ${ORGS.length} orgs x ${TWINS_PER_ORG} twins`, [baseline, single, list], 'req/s');
} finally {
  await disposers.dispose();
}
