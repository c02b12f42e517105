// Ingest throughput: readings/s committed through the organization's ingest paths, with
// analytics (anomaly scores, alarms) on and off, next to a raw `unnest` insert of the same
// number of rows into the same table, in the same run; and what analytics costs per reading.
//   npm run bench:ingest [-- --batches 100 --batch-size 1000]
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { parseArgs } from 'node:util';
import { natsNames } from '../lib/nats.ts';
import { Access, unrestricted } from '../subgraphs/org/access.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { ingestReadings } from '../subgraphs/org/telemetry/ingest.ts';
import { bearer, startOrg } from '../test/support/org.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import { Contender, postGraphQL, report } from './support.ts';

const { values: args } = parseArgs({ options: { batches: { type: 'string', default: '100' }, 'batch-size': { type: 'string', default: '1000' } } });
const batches = Number(args.batches);
const batchSize = Number(args['batch-size']);
const TWINS = 20;
const METRICS = ['temperature', 'vibration'];

const disposers = new Disposers();
try {
  const acme = await startOrg(disposers, 'acme', { limits: { maxIngestBatch: 5000 } });
  const { db, nats, subjectPrefix } = acme;
  const base = {
    names: orgNames('acme'),
    db,
    access: new Access(unrestricted('device', 'devices', ['telemetry:write']), 'acme'),
    limits: { maxIngestBatch: 5000, maxPageSize: 500, maxBuckets: 10_000 },
  };
  const headers = bearer(await acme.memberToken('operator'));
  for (let t = 0; t < TWINS; t++) {
    await db.twin.create({
      data: { id: `m-${t}`, name: `Machine ${t}`, kind: 'cnc-mill', metrics: { create: METRICS.map((name) => ({ name, unit: 'u', min: 0, max: 100 })) } },
    });
  }

  // Every batch holds new readings (distinct times), spread over all twins and metrics.
  let clock = Date.UTC(2026, 0, 1);
  function batch() {
    const start = clock;
    clock += batchSize;
    return Array.from({ length: batchSize }, (_, i) => ({
      twinId: `acme:m-${i % TWINS}`,
      metric: METRICS[Math.floor(i / TWINS) % METRICS.length]!,
      at: new Date(start + i).toISOString(),
      value: (i * 7) % 100,
    }));
  }

  const raw = new Contender('raw unnest INSERT (baseline)', batchSize);
  const direct = new Contender('ingestReadings, analytics on (NATS consumer)', batchSize);
  const directOff = new Contender('ingestReadings, analytics off', batchSize);
  const http = new Contender('GraphQL ingestTelemetry over HTTP', batchSize);
  const mutation = `mutation($r: [ReadingInput!]!) { acme { ingestTelemetry(readings: $r) { accepted } } }`;

  for (let round = -3; round < batches; round++) {
    // The first rounds warm up connections and plans and are not counted.
    const warm = round < 0;
    const rows = batch();
    const insert = () =>
      db.$executeRawUnsafe(
        `INSERT INTO "Reading" ("twinId", metric, at, value) SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[])`,
        rows.map((r) => r.twinId.slice(5)),
        rows.map((r) => r.metric),
        rows.map((r) => r.at),
        rows.map((r) => r.value),
      );
    if (warm) await insert();
    else await raw.time(insert);

    // On and off alternate over the same series, so both meet the same table and indexes.
    const viaFunction = batch();
    const runDirect = () => ingestReadings(base, viaFunction);
    if (warm) await runDirect();
    else await direct.time(runDirect);

    const withoutAnalytics = batch();
    const runOff = () => ingestReadings({ ...base, analytics: false }, withoutAnalytics);
    if (warm) await runOff();
    else await directOff.time(runOff);

    const post = postGraphQL(acme.url, headers, { query: mutation, variables: { r: batch() } });
    if (warm) await post();
    else await http.time(post);
  }

  // Devices: the same number of batches published to JetStream at once, timed until the
  // consumer has committed and acknowledged the last one (the work-queue stream is empty).
  const device = new Contender('device batches via JetStream, end to end', batchSize * batches);
  const js = jetstream(nats);
  const jsm = await jetstreamManager(nats);
  const names = natsNames(subjectPrefix);
  const payloads = Array.from({ length: batches }, () => JSON.stringify({ readings: batch() }));
  await device.time(async () => {
    await Promise.all(payloads.map((payload) => js.publish(names.ingestSubject('acme'), payload)));
    await eventually(
      async () => {
        const { messages } = (await jsm.streams.info(names.ingestStream('acme'))).state;
        if (messages > 0) throw new Error(`${messages} batches not consumed yet`);
      },
      { timeout: 120_000, interval: 2 },
    );
  });

  report(
    `ingest: ${batches} batches x ${batchSize} readings, ${TWINS} twins x ${METRICS.length} metrics, PostgreSQL`,
    [raw, direct, directOff, http, device],
    'rows/s',
  );
  const perReading = (contender: Contender) => 1e6 / contender.summary().rate;
  console.log(
    `\nµs per reading: raw ${perReading(raw).toFixed(2)}, analytics off ${perReading(directOff).toFixed(2)}, analytics on ${perReading(direct).toFixed(2)}`,
  );
  console.log(
    `analytics cost: ${(perReading(direct) - perReading(directOff)).toFixed(2)} µs per reading; analytics on / raw: ${(direct.summary().rate / raw.summary().rate).toFixed(2)}x`,
  );
  console.log(
    `rows stored: ${await db.reading.count()}, analysed: ${await db.reading.count({ where: { anomalyScore: { not: null } } })}, alarms: ${await db.alarm.count()}`,
  );
} finally {
  await disposers.dispose();
}
