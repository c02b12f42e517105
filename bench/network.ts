// The network as it runs: the CLI's directory, three organizations (40 twins each; every acme twin
// supplied by a globex twin supplied by an initech twin) and a gateway, each a process of its own,
// and the load in another (bench/load.ts: wrk). At each connection count, every scenario
// next to its baseline measured in the same run, and with --with-hive next to Hive Gateway on the
// same supergraph (installed in a temporary folder, not a dependency of twinx):
//  1. one twin through the gateway, next to the same query straight to its organization, and to
//     the floors: Apollo's gateway with nothing of twinx's, alone and behind Apollo Server
//     (bench/apollo-floor.ts);
//  2. 30 twins of the three organizations with their suppliers' names, next to a 30-twin list
//     straight to one organization;
//  3. a 3-hop supply chain, next to scenario 1's call straight to the organization;
//  4. a dashboard: 16 callers, each with tokens of its own, asking overlapping questions, next to
//     the same callers asking their organizations directly.
// The services run compiled, as `twinx` runs once built (the npm script builds it first: sources
// newer than the build run through tsx, measured up to twice as costly in the gateway).
// First the CPU each process spends in an idle window before any load (the gateway keeps polling the registry).
// The machine's pace drifts by a factor of two over minutes here: every contender is measured in
// several rounds, a scenario's baseline just before its contenders, and each ratio is the median of
// the rounds' ratios. Latency spreads (p99 / p50) are reported for each kind of request apart.
//   npm run bench:network [-- --duration 5 --warmup 1 --rounds 5 --connections 8,32 --idle 30 --scenarios 1,2,3,4 --with-hive]
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';
import { DIRECTORY_SUBGRAPH } from '../gateway/data-source.ts';
import { RegistrySupergraph } from '../gateway/supergraph.ts';
import { createLogger } from '../lib/logger.ts';
import { freePort } from '../lib/net.ts';
import { tokenHeaders } from '../lib/tokens/headers.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { COMPOSED_HEADER } from '../subgraphs/directory/server.ts';
import { cliNetwork, type ServiceProcess } from '../test/support/cli-network.ts';
import { graphql } from '../test/support/graphql.ts';
import { Disposers, eventually } from '../test/support/services.ts';
import type { LoadResult, LoadSpec, LoadTarget } from './load.ts';
import { percentile, printTable, type Summary } from './support.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '8,32' },
    idle: { type: 'string', default: '30' },
    'with-hive': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    scenarios: { type: 'string', default: '1,2,3,4' },
  },
});
const SCENARIOS = new Set(args.scenarios.split(',').map(Number));
const [DURATION, WARMUP, IDLE, ROUNDS] = [Number(args.duration), Number(args.warmup), Number(args.idle), Number(args.rounds)];
const CONNECTIONS = args.connections.split(',').map(Number);
if (
  !(DURATION > 0 && WARMUP >= 0 && IDLE > 0 && Number.isInteger(ROUNDS) && ROUNDS >= 1) ||
  !CONNECTIONS.every((c) => Number.isInteger(c) && c >= 1) ||
  ![...SCENARIOS].every((n) => [1, 2, 3, 4].includes(n))
)
  throw new TypeError(
    '--duration and --idle must be positive, --warmup at least 0, --rounds a whole number from 1, --connections whole numbers and --scenarios some of 1 to 4, separated by commas',
  );

const ORGS = ['acme', 'globex', 'initech'];
const TWINS = 40;
/** Twins of each organization tagged `mix`: 30 in all, the cross-organization list. */
const MIXED = 10;
const CALLERS = 16;
const DAY = 86_400_000;
const RUN_TS = new URL('../bin/run-ts.mjs', import.meta.url).pathname;
const LOAD = new URL('./load.ts', import.meta.url).pathname;
const HIVE_CONFIG = new URL('./hive-gateway.config.ts', import.meta.url).pathname;
const FLOOR = new URL('./apollo-floor.ts', import.meta.url).pathname;
const ROOT = new URL('../', import.meta.url).pathname;
const run = promisify(execFile);
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
/** CPU time in clock ticks (/proc, wrk's reading), in ms. */
const ticksMs = (ticks: number): number => (ticks * 1000) / TICKS_PER_SECOND;
// The load is wrk's (bench/load.ts): known missing before the network is started. `wrk -v` prints its version and exits 1.
if (!String(spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout).startsWith('wrk')) throw new Error('bench:network needs wrk: apt-get install wrk');

/** One request of a workload and what its answer's data must be. */
interface Call {
  /** Calls of one kind have their latencies reported together too (the dashboard mixes kinds). */
  kind: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  check: (data: any) => boolean;
}

interface Contender {
  name: string;
  calls: Call[];
}

interface Scenario {
  baseline: Contender;
  /** The twinx gateway's, then Hive Gateway's with --with-hive (then, for one twin, twinx's without sharing). */
  gateways: Contender[];
  /** Whether the baseline is printed with this scenario (not when it is an earlier scenario's). */
  ownBaseline: boolean;
  /** Apollo's gateway with nothing of twinx's (bench/apollo-floor.ts): the least such a gateway costs. */
  floors?: Contender[];
}

/** A scenario's contenders after its baseline: the gateways, then the floors. */
const contendersOf = (scenario: Scenario): Contender[] => [...scenario.gateways, ...(scenario.floors ?? [])];

const call = (kind: string, url: string, headers: Record<string, string>, query: string, check: Call['check']): Call => ({
  kind,
  url,
  headers,
  body: JSON.stringify({ query }),
  check,
});
const local = (i: number) => `m-${String(i).padStart(3, '0')}`;
const twinName = (org: string, i: number) => `${org} machine ${i}`;
/** Whose twins supply an organization's twin of the same number. */
const SUPPLIER: Record<string, string | undefined> = { acme: 'globex', globex: 'initech' };

const disposers = new Disposers();
try {
  // Callers here make thousands of requests a second each: the gateway's rate limit would measure
  // itself. A 3-hop chain costs 50^3 (each `suppliedBy` list counts as 50 twins), above the default 20,000.
  // Two gateways: as configured by default (identical requests in flight shared), and without sharing.
  const network = await cliNetwork({
    orgs: ORGS,
    gateways: 2,
    env: { TWINX_RATE_LIMIT: '1000000000', TWINX_RATE_BURST: '1000000000', TWINX_MAX_COST: '200000' },
    gatewayEnv: (index): Record<string, string> => (index === 1 ? { TWINX_GATEWAY_DEDUPE: 'false' } : {}),
  });
  disposers.add(() => network.stop());
  const { directory, orgs } = network;
  const [gateway, unshared] = network.gateways as [ServiceProcess, ServiceProcess];
  for (const service of [directory, ...Object.values(orgs)]) service.start();
  for (const service of [directory, ...Object.values(orgs)]) await service.ready();
  for (const service of network.gateways) {
    service.start();
    await service.ready((body) => (body.members as string[]).length === ORGS.length && (body.issuersUnread as string[]).length === 0);
  }

  // The data, as users make it: through each organization's GraphQL API with its admin token.
  const ask = async (url: string, headers: Record<string, string>, query: string, variables?: Record<string, unknown>) => {
    const answer = await graphql(url, query, variables, headers);
    if (answer.errors || !answer.data) throw new Error(`${url}: ${JSON.stringify(answer).slice(0, 500)}`);
    return answer.data;
  };
  const asAdmin = (org: string, mutation: string, variables: Record<string, unknown>) =>
    ask(orgs[org]!.url, tokenHeaders([network.adminTokens[org]!]), mutation, variables);
  const expiresAt = new Date(Date.now() + DAY).toISOString();
  for (const org of [...ORGS].reverse()) {
    const supplier = SUPPLIER[org];
    await Promise.all(
      Array.from({ length: TWINS }, (_, i) =>
        asAdmin(org, `mutation($input: TwinInput!) { ${org} { createTwin(input: $input) { id } } }`, {
          input: {
            id: `${org}:${local(i)}`,
            name: twinName(org, i),
            kind: 'cnc-mill',
            tags: i < MIXED ? ['bench', 'mix'] : ['bench'],
            metrics: [{ name: 'temperature', unit: 'C', min: 0, max: 100 }],
            suppliedByIds: supplier ? [`${supplier}:${local(i)}`] : [],
          },
        }),
      ),
    );
    await asAdmin(org, `mutation($readings: [ReadingInput!]!) { ${org} { ingestTelemetry(readings: $readings) { accepted } } }`, {
      readings: Array.from({ length: TWINS }, (_, i) => ({
        twinId: `${org}:${local(i)}`,
        metric: 'temperature',
        at: new Date().toISOString(),
        value: 20 + i,
      })),
    });
  }
  /** A viewer of `org` holding grants of the two other organizations. */
  const caller = async (org: string, subject: string) => {
    const issued = await asAdmin(org, `mutation($input: MemberTokenInput!) { ${org} { issueMemberToken(input: $input) { token } } }`, {
      input: { subject, role: 'viewer', expiresAt },
    });
    const member: string = issued[org].issueMemberToken.token;
    const grants: Record<string, string> = {};
    for (const owner of ORGS.filter((o) => o !== org)) {
      const granted = await asAdmin(owner, `mutation($input: GrantInput!) { ${owner} { issueGrant(input: $input) { token } } }`, {
        input: { partner: org, scopes: ['twins:read'], selector: { tags: ['bench'] }, expiresAt },
      });
      grants[owner] = granted[owner].issueGrant.token;
    }
    return { org, member, grants, all: tokenHeaders([member, ...Object.values(grants)]) };
  };
  const engineer = await caller('acme', 'engineer');
  const callers = await Promise.all(Array.from({ length: CALLERS }, (_, k) => caller(ORGS[k % ORGS.length]!, `dashboard-${k}`)));
  await eventually(
    async () => {
      const { twins } = await ask(gateway.url, engineer.all, `{ twins(first: 500, filter: { tags: ["bench"] }) { edges { node { id } } } }`);
      if (twins.edges.length !== ORGS.length * TWINS) throw new Error(`the catalog lists ${twins.edges.length} of ${ORGS.length * TWINS} twins`);
    },
    { timeout: 60_000, interval: 200 },
  );

  const TWIN = 'id name kind tags state { status metrics { metric value at } }';
  const twinAt = (org: string, id: string, headers: Record<string, string>, kind = 'twin', url = orgs[org]!.url) =>
    call(kind, url, headers, `{ ${org} { twin(id: "${id}") { ${TWIN} } } }`, (d) => d[org].twin?.id === id);
  const listAt = (org: string, headers: Record<string, string>) =>
    call(
      'list',
      orgs[org]!.url,
      headers,
      `{ ${org} { twins(first: 30, filter: { tags: ["bench"] }) { edges { node { id name state { status } suppliedByIds } } } } }`,
      (d) => d[org].twins.edges.length === 30,
    );
  // `suppliedBy` asked of each organization's twin type, not of the `Twin` interface: Hive Gateway
  // (2.15, router runtime) asks the directory for the interface's `suppliedBy` without the
  // `suppliedByIds` it @requires, and fails. Both gateways are sent the same queries.
  const on = (org: string, fields: string) => `... on ${orgNames(org).twin} { ${fields} }`;
  const twinVia = (url: string, id: string, headers: Record<string, string>, kind = 'twin') =>
    call(kind, url, headers, `{ twin(id: "${id}") { ${TWIN} } }`, (d) => d.twin?.id === id);
  const listVia = (url: string, headers: Record<string, string>) =>
    call(
      'list',
      url,
      headers,
      `{ twins(first: 30, filter: { tags: ["mix"] }) { edges { node { id name state { status } ${ORGS.map((org) => on(org, 'suppliedBy { id name }')).join(' ')} } } } }`,
      (d) =>
        d.twins.edges.length === 30 &&
        ORGS.every((org) => d.twins.edges.some((e: any) => e.node.id.startsWith(`${org}:`))) &&
        d.twins.edges.every((e: any) => e.node.name && e.node.suppliedBy.length === (SUPPLIER[e.node.id.split(':')[0]] ? 1 : 0)),
    );
  const chainVia = (url: string, i: number, headers: Record<string, string>) =>
    call(
      'chain',
      url,
      headers,
      `{ twin(id: "acme:${local(i)}") { ${on('acme', `name suppliedBy { ${on('globex', `name suppliedBy { ${on('initech', 'name suppliedBy { name }')} }`)} }`)} } }`,
      (d) => d.twin?.suppliedBy[0]?.suppliedBy[0]?.name === twinName('initech', i),
    );
  // Each dashboard caller asks of one of four hot twins of its organization and of the next
  // organization's, and for the cross-organization list; straight to the organizations, for the
  // twins with the token each organization takes, and for the list its own organization's.
  const next = (org: string) => ORGS[(ORGS.indexOf(org) + 1) % ORGS.length]!;
  const dashboardVia = (url: string) =>
    callers.flatMap((c, k) => [
      twinVia(url, `${c.org}:${local(k % 4)}`, c.all, 'own twin'),
      listVia(url, c.all),
      twinVia(url, `${next(c.org)}:${local(k % 4)}`, c.all, "partner's twin"),
    ]);
  const dashboardDirect = callers.flatMap((c, k) => [
    twinAt(c.org, `${c.org}:${local(k % 4)}`, tokenHeaders([c.member]), 'own twin'),
    listAt(c.org, tokenHeaders([c.member])),
    twinAt(next(c.org), `${next(c.org)}:${local(k % 4)}`, tokenHeaders([c.grants[next(c.org)]!]), "partner's twin"),
  ]);
  const viaGateway = (name: string, url: string) => ({
    one: { name: `1 one twin, ${name}`, calls: [twinVia(url, 'acme:m-007', tokenHeaders([engineer.member]))] },
    list: { name: `2 30 twins of 3 orgs + suppliers, ${name}`, calls: [listVia(url, engineer.all)] },
    chain: { name: `3 3-hop supply chain, ${name}`, calls: [chainVia(url, 7, engineer.all)] },
    dashboard: { name: `4 dashboard, ${CALLERS} callers, ${name}`, calls: dashboardVia(url) },
  });
  /** Composed once: Hive Gateway and the floors serve the same supergraph. */
  let composing: ReturnType<typeof composeSupergraph> | undefined;
  const supergraph = () => (composing ??= composeSupergraph());
  const gateways = [viaGateway('twinx', gateway.url)];
  let hive: ChildProcess | undefined;
  if (args['with-hive']) {
    const started = await startHive();
    hive = started.child;
    gateways.push(viaGateway('Hive Gateway', started.url));
  }
  const direct = { name: '1 one twin, straight to acme (baseline)', calls: [twinAt('acme', 'acme:m-007', tokenHeaders([engineer.member]))] };
  // The one-twin target is without sharing: every request reaches the organization.
  const oneUnshared = { name: '1 one twin, twinx without sharing', calls: [twinVia(unshared.url, 'acme:m-007', tokenHeaders([engineer.member]))] };
  // The floors are asked acme's own root field, as acme is straight: one fetch, as twinx routes `twin(id)`.
  const floors = SCENARIOS.has(1) ? await startFloors() : [];
  const floorOf = ({ name, url }: { name: string; url: string }) => ({
    name: `1 one twin, ${name} (floor)`,
    calls: [twinAt('acme', 'acme:m-007', tokenHeaders([engineer.member]), 'twin', url)],
  });
  const scenarios: Scenario[] = [
    { baseline: direct, gateways: [...gateways.map((g) => g.one), oneUnshared], ownBaseline: true, floors: floors.map(floorOf) },
    {
      baseline: { name: '2 30 twins of acme, straight (baseline)', calls: [listAt('acme', tokenHeaders([engineer.member]))] },
      gateways: gateways.map((g) => g.list),
      ownBaseline: true,
    },
    { baseline: direct, gateways: gateways.map((g) => g.chain), ownBaseline: false },
    {
      baseline: { name: '4 dashboard, straight to the orgs (baseline)', calls: dashboardDirect },
      gateways: gateways.map((g) => g.dashboard),
      ownBaseline: true,
    },
  ];

  // Every answer checked before measuring; Hive Gateway's must be the twinx gateway's.
  for (const scenario of scenarios) {
    const [twinx, ...others] = scenario.gateways;
    await answers(scenario.baseline);
    for (const floor of scenario.floors ?? []) await answers(floor);
    const expected = await answers(twinx!);
    for (const other of others) {
      const got = await answers(other);
      got.forEach((data, i) => {
        if (JSON.stringify(data) !== JSON.stringify(expected[i]))
          throw new Error(`${other.name} answers ${JSON.stringify(data)}, twinx ${JSON.stringify(expected[i])}`);
      });
    }
  }

  // Idle: no request for IDLE seconds, before any load (whose garbage collection would count); what each process spends meanwhile.
  const processes: Record<string, ChildProcess | undefined> = {
    ...network.processes(),
    ...Object.fromEntries(floors.map((floor) => [`floor-${floor.kind}`, floor.child])),
    ...(hive ? { 'hive-gateway': hive } : {}),
  };
  const before = Object.entries(processes).map(([name, child]) => [name, cpuMs(child!.pid!)] as const);
  await sleep(IDLE * 1000);
  console.log(`\nidle: CPU over ${IDLE} s without requests, ms per minute (the organizations answer the gateway's polls too)`);
  for (const [name, start] of before) console.log(`${name.padEnd(16)} ${(((cpuMs(processes[name]!.pid!) - start) * 60) / IDLE).toFixed(0).padStart(8)}`);

  // Scenarios left out with --scenarios are neither measured nor judged.
  const chosen = scenarios.filter((_, i) => SCENARIOS.has(i + 1));
  const numberOf = (scenario: Scenario) => scenarios.indexOf(scenario) + 1;
  const results = new Map<number, Map<Contender, Measured>>();
  /** CPU each process has spent so far, in ms, and the whole machine's. */
  const cpuByProcess = () =>
    new Map([...Object.entries(processes).map(([name, child]) => [name, cpuMs(child!.pid!)] as const), ['machine', machineCpuMs()] as const]);
  const invalid: string[] = [];
  for (const connections of CONNECTIONS) {
    // Round after round of every contender, each scenario's baseline just before its contenders:
    // what drifts during a run (the machine, the network warming up) reaches them alike, and the
    // median round stands for each.
    const rounds = new Map<Contender, LoadResult[]>();
    const cpu = new Map<Contender, Map<string, number>>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const scenario of chosen) {
        for (const contender of [scenario.baseline, ...contendersOf(scenario)]) {
          if ((rounds.get(contender)?.length ?? 0) > round) continue;
          const cpuBefore = cpuByProcess();
          const result = await measure(contender.calls, connections);
          const spent = cpu.get(contender) ?? new Map<string, number>();
          for (const [name, ms] of cpuByProcess()) spent.set(name, (spent.get(name) ?? 0) + ms - cpuBefore.get(name)!);
          spent.set('load', (spent.get('load') ?? 0) + ticksMs(result.cpuTicks));
          cpu.set(contender, spent);
          rounds.set(contender, [...(rounds.get(contender) ?? []), result]);
          const failed = Object.entries(result.failures).filter(([, count]) => count > 0);
          if (failed.length > 0)
            invalid.push(
              `${contender.name} at ${connections} connections: ${failed.map(([what, count]) => `${count} ${what}`).join(', ')}; ${result.firstError ?? ''}`,
            );
        }
      }
    }
    const measured = new Map([...rounds].map(([contender, results]) => [contender, summarize(contender.name, results)]));
    results.set(connections, measured);
    const rows = chosen.flatMap((scenario) =>
      [...(scenario.ownBaseline ? [scenario.baseline] : []), ...contendersOf(scenario)].map((contender) => ({
        summary: measured.get(contender)!,
        baseline: measured.get(scenario.baseline)!,
        ratio: times(measured, scenario.baseline, contender),
      })),
    );
    printTable(
      `network at ${connections} connections: medians of ${ROUNDS} rounds of ${DURATION} s each (after ${WARMUP} s of warm-up), each ratio the median of the rounds' ratios`,
      'req/s',
      rows,
    );
    console.log('\nreq/s in each round');
    for (const [contender, { rates }] of measured) console.log(`  ${contender.name.padEnd(46)} ${rates.map((rate) => rate.toFixed(0).padStart(6)).join('')}`);
    // Loads start and warm up in their own processes: the machine's share counts that too, `load` the measure's wrk alone.
    console.log(`\nCPU ms per answer, by process (machine: all processes, the load's and Postgres's included; load: wrk in the measure)`);
    for (const [contender, spent] of cpu) {
      const answers = rounds.get(contender)!.reduce((total, result) => total + result.answers, 0);
      console.log(`  ${contender.name.padEnd(46)} ${[...spent].map(([name, ms]) => `${name} ${(ms / answers).toFixed(2)}`).join(', ')}`);
    }
    if (hive)
      console.log(`twinx / Hive Gateway: ${chosen.map((s) => `${numberOf(s)}: ${times(measured, s.gateways[1]!, s.gateways[0]!).toFixed(2)}x`).join('   ')}`);
  }

  console.log('\ntargets, in this run:');
  const [one, list, , dashboard] = scenarios as [Scenario, Scenario, Scenario, Scenario];
  /** `contender`'s rate over `baseline`'s at each connection count. */
  const ratios = (baseline: Contender, contender: Contender) => CONNECTIONS.map((c) => times(results.get(c)!, baseline, contender));
  const atEach = (values: number[]) => values.map((r, i) => `${r.toFixed(2)}x at ${CONNECTIONS[i]}`).join(', ');
  const target = (what: string, scenario: Scenario, baseline: Contender, contender: Contender, least: number) => {
    if (!chosen.includes(scenario)) return console.log(`  ${what}: not measured (--scenarios)`);
    const measured = ratios(baseline, contender);
    console.log(`  ${what}: ${atEach(measured)} — ${measured.every((r) => r >= least) ? 'met' : 'NOT met'}`);
  };
  target('one twin >= 0.7x direct, without sharing', one, one.baseline, oneUnshared, 0.7);
  // Each floor measured just after twinx without sharing, round by round.
  if (chosen.includes(one))
    for (const floor of one.floors ?? [])
      console.log(`    ${floor.name}: ${atEach(ratios(one.baseline, floor))} direct; twinx without sharing ${atEach(ratios(floor, oneUnshared))} of it`);
  target('cross-organization list >= 0.5x single-organization list', list, list.baseline, list.gateways[0]!, 0.5);
  if (hive) target('dashboard at or ahead of Hive Gateway', dashboard, dashboard.gateways[1]!, dashboard.gateways[0]!, 1);
  else console.log('  dashboard at or ahead of Hive Gateway: not measured (--with-hive)');
  const at8 = results.get(8);
  if (at8) {
    // Of each kind of request apart (the dashboard mixes kinds of unlike cost), next to its baseline's.
    const spreads = (contender: Contender) => at8.get(contender)!.spreads;
    const worst = Math.max(...chosen.flatMap((s) => Object.values(spreads(s.gateways[0]!))));
    console.log(`  p99 <= 3x p50 at 8 connections, each kind of request (twinx, its baseline's in parentheses): ${worst <= 3 ? 'met' : 'NOT met'}`);
    for (const scenario of chosen) {
      const base = spreads(scenario.baseline);
      const kinds = Object.entries(spreads(scenario.gateways[0]!));
      // The 3-hop chain's baseline is scenario 1's: another kind of request, alone.
      const baseOf = (kind: string) => base[kind] ?? Object.values(base)[0]!;
      console.log(`    ${numberOf(scenario)}: ${kinds.map(([kind, spread]) => `${kind} ${spread.toFixed(1)}x (${baseOf(kind).toFixed(1)}x)`).join(', ')}`);
    }
  } else console.log('  p99 <= 3x p50 at 8 connections: not measured (--connections without 8)');
  if (invalid.length > 0) {
    console.log(`\nINVALID: errors during measures\n  ${invalid.join('\n  ')}`);
    process.exitCode = 1;
  }

  /** The data of each call's answer; throws unless each is 200, without errors, and passes its check. */
  async function answers(contender: Contender): Promise<unknown[]> {
    const data: unknown[] = [];
    for (const { url, headers, body, check } of contender.calls) {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const answer = (await response.json()) as { data?: unknown; errors?: unknown };
      if (response.status !== 200 || answer.errors || !check(answer.data))
        throw new Error(`${contender.name}: unexpected answer (HTTP ${response.status}) ${JSON.stringify(answer.errors ?? answer.data).slice(0, 1000)}`);
      data.push(answer.data);
    }
    return data;
  }

  /** Hive Gateway, installed now, serving the supergraph the twinx gateway composed. */
  async function startHive(): Promise<{ url: string; child: ChildProcess }> {
    const dir = await mkdtemp(join(tmpdir(), 'twinx-hive-'));
    disposers.add(() => rm(dir, { recursive: true, force: true }));
    console.log(`installing Hive Gateway in ${dir}`);
    await run(
      'npm',
      ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', '@graphql-hive/gateway@latest', '@graphql-hive/router-runtime@latest'],
      { maxBuffer: 1 << 26 },
    );
    const { version } = JSON.parse(readFileSync(join(dir, 'node_modules/@graphql-hive/gateway/package.json'), 'utf8'));
    const { file, composedSlugs } = await supergraph();
    const port = await freePort();
    const child = await startProcess(
      'Hive Gateway',
      dir,
      [join(dir, 'node_modules/@graphql-hive/gateway/dist/bin.js'), 'supergraph', file, '--hive-router-runtime'],
      {
        CONFIG_PATH: HIVE_CONFIG,
        HOST: '127.0.0.1',
        PORT: String(port),
        TWINX_DIRECTORY_HEADERS: JSON.stringify({ subgraph: DIRECTORY_SUBGRAPH, headers: { [COMPOSED_HEADER]: composedSlugs } }),
      },
      new Request(`http://127.0.0.1:${port}/readiness`),
    );
    console.log(`Hive Gateway ${version} on the same supergraph`);
    return { url: `http://127.0.0.1:${port}/graphql`, child };
  }

  /** The floors (bench/apollo-floor.ts), compiled as the twinx gateway runs, on the same supergraph. */
  async function startFloors(): Promise<{ kind: string; name: string; url: string; child: ChildProcess }[]> {
    // Compiled beside the CLI's build, where its packages are found.
    const compiled = join(ROOT, '.twinx/bench/apollo-floor.mjs');
    disposers.add(() => rm(compiled, { force: true }));
    await build({
      entryPoints: [FLOOR],
      outfile: compiled,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
    });
    const { file } = await supergraph();
    const started = [];
    for (const [kind, name] of [
      ['gateway', 'Apollo Gateway alone'],
      ['server', 'Apollo Server + Gateway'],
    ] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'twinx-floor-'));
      disposers.add(() => rm(dir, { recursive: true, force: true }));
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/graphql`;
      const body = JSON.stringify({ query: '{ __typename }' });
      const ready = new Request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const child = await startProcess(name, dir, [compiled], { TWINX_FLOOR: kind, TWINX_SUPERGRAPH: file, PORT: String(port) }, ready);
      started.push({ kind, name, url, child });
    }
    return started;
  }

  /** The supergraph as the twinx gateway composes it (the registry, each member's SDL checked against the template), in a file of its own. */
  async function composeSupergraph(): Promise<{ file: string; composedSlugs: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'twinx-supergraph-'));
    disposers.add(() => rm(dir, { recursive: true, force: true }));
    const composer = new RegistrySupergraph({ directoryUrl: directory.url, logger: createLogger('bench', 'silent') });
    const { supergraphSdl, cleanup } = await composer.initialize({ update: () => undefined } as unknown as Parameters<RegistrySupergraph['initialize']>[0]);
    await cleanup();
    const file = join(dir, 'supergraph.graphql');
    await writeFile(file, supergraphSdl);
    return { file, composedSlugs: composer.composedSlugs() };
  }

  /** A gateway of another make in a process of its own, stopped with the bench, once `ready` (a request) answers. */
  async function startProcess(name: string, dir: string, argv: string[], env: Record<string, string>, ready: Request): Promise<ChildProcess> {
    const log = join(dir, 'gateway.log');
    const output = openSync(log, 'a');
    const child = spawn(process.execPath, argv, { cwd: dir, env: { ...process.env, NODE_ENV: 'production', ...env }, stdio: ['ignore', output, output] });
    disposers.add(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    });
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited:\n${readFileSync(log, 'utf8').slice(-2000)}`);
        if (!(await fetch(ready.clone())).ok) throw new Error(`${name} not ready`);
      },
      { timeout: 60_000, interval: 100 },
    );
    return child;
  }
} finally {
  await disposers.dispose();
}

/** Runs a workload in a process of its own (bench/load.ts): connections shared among its URLs as its calls are. */
async function measure(calls: Call[], connections: number): Promise<LoadResult> {
  const byUrl = new Map<string, Call[]>();
  for (const c of calls) byUrl.set(c.url, [...(byUrl.get(c.url) ?? []), c]);
  const groups = [...byUrl.values()];
  const shares = groups.map((group) => Math.max(1, Math.floor((connections * group.length) / calls.length)));
  for (let i = 0; shares.reduce((a, b) => a + b, 0) < connections; i = (i + 1) % shares.length) shares[i]!++;
  const targets: LoadTarget[] = groups.map((group, i) => ({
    url: group[0]!.url,
    connections: shares[i]!,
    requests: group.map(({ headers, body, kind }) => ({ headers, body, kind })),
  }));
  const spec: LoadSpec = { targets, duration: DURATION, warmup: WARMUP };
  const load = run(process.execPath, [RUN_TS, LOAD, JSON.stringify(spec)], { maxBuffer: 1 << 24, env: { ...process.env, NODE_ENV: 'production' } });
  const { stdout } = await load;
  return JSON.parse(stdout) as LoadResult;
}

/** A contender over its rounds: the median rate and latencies, and the median p99 / p50 of each kind of request. */
interface Measured extends Summary {
  /** Each round's rate. */
  rates: number[];
  spreads: Record<string, number>;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

function summarize(name: string, rounds: LoadResult[]): Measured {
  const kinds = Object.keys(rounds[0]!.kinds);
  const rates = rounds.map((r) => r.answers / r.seconds);
  return {
    name,
    rates,
    rate: median(rates),
    latency: { p50: median(rounds.map((r) => r.p50)), p99: median(rounds.map((r) => r.p99)) },
    spreads: Object.fromEntries(kinds.map((kind) => [kind, median(rounds.map((r) => r.kinds[kind]!.p99 / r.kinds[kind]!.p50))])),
  };
}

/** `a`'s rate over `b`'s: the median of their ratios round by round (each measured close in time). */
function times(measured: Map<Contender, Measured>, b: Contender, a: Contender): number {
  const [of, to] = [measured.get(a)!.rates, measured.get(b)!.rates];
  return median(of.map((rate, round) => rate / to[round]!));
}

/** CPU time the whole machine has spent, in ms (/proc/stat: all but idle and iowait). */
function machineCpuMs(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks as number[];
  return ticksMs(user! + nice! + system! + irq! + softirq! + steal!);
}

/** CPU time (user and system) a process has spent, in ms, from /proc/<pid>/stat (Linux). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command name in parentheses: state, then utime and stime are the 12th and 13th fields.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ticksMs(Number(fields[11]) + Number(fields[12]));
}
