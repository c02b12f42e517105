// Authorization cost: requests/s of a typical partner query with authorization on (two grant
// tokens verified, revocation checked, twins filtered by the grants' selectors, the access
// audited) versus off (every caller unrestricted), same server code, same data, same run.
//   npm run bench:auth [-- --requests 400 --rounds 5 --concurrency 8]
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/logger.ts';
import { openAccess } from '../subgraphs/org/auth/authenticator.ts';
import { createOrgSubgraph } from '../subgraphs/org/server.ts';
import { bearer, startOrg } from '../test/support/org.ts';
import { Disposers } from '../test/support/services.ts';
import { Contender, postGraphQL, report } from './support.ts';

const { values: args } = parseArgs({
  options: { requests: { type: 'string', default: '400' }, rounds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' } },
});
const [requests, rounds, concurrency] = [Number(args.requests), Number(args.rounds), Number(args.concurrency)];
const KINDS = ['press', 'furnace', 'robot', 'mill'];

const disposers = new Disposers();
try {
  const acme = await startOrg(disposers, 'acme');
  const open = createOrgSubgraph({
    org: 'acme',
    db: acme.db,
    nats: acme.nats,
    subjectPrefix: `${acme.subjectPrefix}_open`,
    auth: openAccess,
    keys: acme.issuer.keys,
    logger: createLogger('bench', 'silent'),
  });
  await open.start();
  disposers.add(() => open.stop());

  for (let i = 0; i < 200; i++) {
    await acme.db.twin.create({
      data: {
        id: `m-${String(i).padStart(3, '0')}`,
        name: `Machine ${i}`,
        kind: KINDS[i % KINDS.length]!,
        tags: [`line-${i % 5}`],
        status: 'OK',
        stateUpdatedAt: new Date(),
        metrics: {
          create: [
            { name: 'temperature', unit: 'C', lastValue: 20 + (i % 10), lastAt: new Date() },
            { name: 'vibration', unit: 'mm/s', lastValue: 0.5, lastAt: new Date() },
          ],
        },
      },
    });
  }
  // A partner holding two grants: all presses, and a few other twins by id.
  const presses = await acme.grantToken({ partner: 'globex', scopes: ['twins:read', 'telemetry:read'], selector: { kinds: ['press'] } });
  const some = await acme.grantToken({ partner: 'globex', scopes: ['twins:read'], selector: { ids: ['acme:m-001', 'acme:m-002'] } });
  const operation = {
    query: `{ acme { twins(filter: { kind: "press" }, first: 50) { edges { node { id name kind tags state { status updatedAt metrics { metric value at } } } } } } }`,
  };
  const query = (url: string, headers: Record<string, string>) => postGraphQL(url, headers, operation, (d) => d?.acme.twins.edges.length === 50);
  const withAuth = query(acme.url, bearer(presses.token, [some.token]));
  const withoutAuth = query(open.url, {});

  const off = new Contender('authorization off (baseline)');
  const on = new Contender('authorization on: partner with 2 grants');
  const warmup = new Contender('warm-up');
  await warmup.load(withoutAuth, 200, concurrency);
  await warmup.load(withAuth, 200, concurrency);
  for (let round = 0; round < rounds; round++) {
    await off.load(withoutAuth, requests, concurrency);
    await on.load(withAuth, requests, concurrency);
  }
  report(`partner query (50 of 200 twins with state), ${rounds} x ${requests} requests each, concurrency ${concurrency}`, [off, on], 'req/s');
  console.log(`audit rows written: ${await acme.db.auditEvent.count()}`);
} finally {
  await disposers.dispose();
}
