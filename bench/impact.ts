// Impact across a supply network: the impact of a tier-3 supplier's 3-day stop through the
// gateway, on a generated network of 5 organizations x 1,000 twins in 4 tiers, next to as many
// plain `twin(id) { suppliedBy { id name } }` queries through the gateway in the same run, then
// one at a time; p50/p99 side by side, and the size of the answer.
//   npm run bench:impact [-- --requests 200 --concurrency 8 --seed 7]
import { parseArgs } from 'node:util';
import { mulberry32 } from '../subgraphs/org/analytics/boosting.ts';
import { Access, unrestricted } from '../subgraphs/org/access.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { DEFAULT_LIMITS } from '../subgraphs/org/server.ts';
import { createTwin } from '../subgraphs/org/twins/store.ts';
import { startNetwork } from '../test/support/network.ts';
import { bearer } from '../test/support/org.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { Contender, postGraphQL, report } from './support.ts';

const { values: args } = parseArgs({
  options: { requests: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '8' }, seed: { type: 'string', default: '7' } },
});
const [requests, concurrency, seed] = [Number(args.requests), Number(args.concurrency), Number(args.seed)];
const ORGS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
const TWINS_PER_ORG = 1000;
/** Tier 3 (raw material) supplies tier 2, which supplies tier 1, which supplies the OEM lines (tier 0). */
const TIERS = 4;
const PER_TIER = TWINS_PER_ORG / TIERS;
/** Twins created at once per organization: the store's pool handles them together. */
const CREATE_BATCH = 25;

const twinId = (org: string, tier: number, i: number) => `${org}:t${tier}-${String(i).padStart(3, '0')}`;

/**
 * The network: every twin below tier 3 is supplied by 1–3 twins of the tier above, at any
 * organization, sharing its need of the part that tier makes; each link with a lead time and the
 * customer's buffer of it, each twin with a capacity.
 */
function generate(random: () => number) {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const tiers: Record<string, unknown>[][] = [];
  for (let tier = TIERS - 1; tier >= 0; tier--) {
    const twins: Record<string, unknown>[] = [];
    for (const org of ORGS) {
      for (let i = 0; i < PER_TIER; i++) {
        const suppliers = new Set<string>();
        const count = tier === TIERS - 1 ? 0 : 1 + Math.floor(random() * 3);
        while (suppliers.size < count) suppliers.add(twinId(pick(ORGS), tier + 1, Math.floor(random() * PER_TIER)));
        const shares = [...suppliers].map(() => 0.2 + random());
        const total = shares.reduce((sum, share) => sum + share, 0);
        twins.push({
          id: twinId(org, tier, i),
          name: `Tier ${tier} machine ${i}`,
          kind: tier === 0 ? 'line' : `tier-${tier}`,
          tags: ['bench'],
          suppliedByIds: [...suppliers],
          capacity: { perDay: 100 + Math.floor(random() * 900), unit: 'units' },
          supply: [...suppliers].map((supplierId, s) => ({
            supplierId,
            part: `part-${tier + 1}`,
            share: Math.round((shares[s]! / total) * 100) / 100,
            leadTimeHours: pick([4, 8, 12, 24]),
            daysOfSupply: pick([0.25, 0.5, 1]),
            safetyStock: 0.1,
          })),
        });
      }
    }
    tiers.push(twins);
  }
  return tiers;
}

const disposers = new Disposers();
try {
  // One client measures latency: the per-token rate limit would measure itself.
  const net = await startNetwork(disposers, ORGS, { gateway: { rateLimit: { perSecond: 1e9, burst: 1e9 } } });
  const seeding = performance.now();
  // Tier by tier, so that a supplier at the same organization exists when its customers are created.
  const network = generate(mulberry32(seed));
  for (const twins of network) {
    await Promise.all(
      ORGS.map(async (org) => {
        const base = { db: net.orgs[org]!.db, names: orgNames(org), access: new Access(unrestricted('member', 'bench'), org), limits: DEFAULT_LIMITS };
        const own = twins.filter((twin) => (twin.id as string).startsWith(`${org}:`));
        for (let i = 0; i < own.length; i += CREATE_BATCH) await Promise.all(own.slice(i, i + CREATE_BATCH).map((twin) => createTwin(base, twin)));
      }),
    );
  }
  await Promise.all(ORGS.map((org) => net.orgs[org]!.eventsPublished()));
  const total = ORGS.length * TWINS_PER_ORG;
  await eventually(
    async () => {
      const listed = await net.directoryDb.catalogTwin.count();
      if (listed < total) throw new Error(`the directory lists ${listed} of ${total} twins`);
    },
    { timeout: 300_000, interval: 200 },
  );
  const seeded = (performance.now() - seeding) / 1000;

  // An OEM planner at ACME holding every supplier's grant to read supply.
  const acme = net.orgs.acme!;
  const grants = [];
  for (const org of ORGS.filter((slug) => slug !== 'acme')) {
    grants.push((await net.orgs[org]!.grantToken({ partner: 'acme', scopes: ['twins:read', 'supply:read'], selector: { tags: ['bench'] } })).token);
  }
  const headers = bearer(await acme.memberToken('viewer', 'planner'), grants);

  // The tier-3 twin supplying the most twins, and one of them for the plain query.
  const customers = new Map<string, string[]>();
  for (const twin of network[1]!)
    for (const supplierId of twin.suppliedByIds as string[]) customers.set(supplierId, [...(customers.get(supplierId) ?? []), twin.id as string]);
  const [disrupted, [plainId]] = [...customers].sort(([, a], [, b]) => b.length - a.length)[0]!;
  const impactQuery = `{ impact(of: { twinId: "${disrupted}", hours: 72 }, horizonHours: 336) {
    affected { twinId org tier hoursToImpact durationHours capacityLost via } unknown { org reason } hops } }`;
  const answer = (await net.query(impactQuery, undefined, headers)) as {
    data?: { impact: { affected: { tier: number; org: string }[]; unknown: unknown[]; hops: number } };
    errors?: unknown;
  };
  if (answer.errors || !answer.data?.impact.affected.length || answer.data.impact.unknown.length) {
    throw new Error(`unexpected impact answer: ${JSON.stringify(answer).slice(0, 500)}`);
  }
  const { affected, hops } = answer.data.impact;
  const tiers = [...new Set(affected.map((twin) => twin.tier))].sort((a, b) => a - b);
  const byTier = tiers.map((tier) => `tier ${tier}: ${affected.filter((twin) => twin.tier === tier).length}`);
  const impact = postGraphQL(net.gateway.url, headers, { query: impactQuery }, (d) => d.impact.affected.length === affected.length);
  const plain = postGraphQL(
    net.gateway.url,
    headers,
    { query: `{ twin(id: "${plainId}") { suppliedBy { id name } } }` },
    (d) => d.twin.suppliedBy.length > 0 && d.twin.suppliedBy.every((s: { name: string | null }) => s.name),
  );

  const baseline = new Contender(`twin(id) { suppliedBy { id name } } (baseline)`);
  const impacts = new Contender(`impact of a tier-3 twin's 72 h stop`);
  const alone = new Contender('the same impact, one query at a time');
  const warmup = new Contender('warm-up');
  for (const run of [plain, impact]) await warmup.load(run, 50, concurrency);
  await baseline.load(plain, requests, concurrency);
  await impacts.load(impact, requests, concurrency);
  await alone.load(impact, requests, 1);
  report(
    `impact: ${ORGS.length} orgs x ${TWINS_PER_ORG} twins, ${TIERS} tiers (seeded in ${seeded.toFixed(1)} s), ${requests} queries each, concurrency ${concurrency}`,
    [baseline, impacts, alone],
    'req/s',
  );
  const [p50plain, p50impact, p50alone] = [baseline, impacts, alone].map((contender) => contender.summary().latency!.p50);
  console.log(`impact p50 / plain p50: ${(p50impact! / p50plain!).toFixed(1)}x; one at a time, impact p50 ${p50alone!.toFixed(1)} ms (target: under 100 ms)`);
  console.log(`answer: ${affected.length} twins hit (${byTier.join(', ')}) at ${new Set(affected.map((twin) => twin.org)).size} organizations, ${hops} hops`);
} finally {
  await disposers.dispose();
}
