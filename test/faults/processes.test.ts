import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliNetwork, type CliNetwork, type ServiceProcess } from '../support/cli-network.ts';
import { Disposers, eventually } from '../support/services.ts';
import { endOfStream } from '../support/subscriptions.ts';
import {
  createMachines,
  resumingSubscriber,
  startDevices,
  startServices,
  stateEvents,
  settled,
  storedReadings,
  watchReadiness,
  type Devices,
  type ResumingSubscriber,
} from '../support/traffic.ts';

/**
 * Processes of a network killed (kill -9) under steady traffic (issue 11): an organization, a
 * gateway, the directory, each started again through the CLI. While one is down, the services
 * that need it say so on `/readyz` (naming it) and every other service stays ready; once it is
 * ready again, the subscribers it cut off deliver fresh readings within 5 s; in the end every
 * reading JetStream took is stored once and every subscriber received every STATE event it is
 * owed once, in stream order.
 */

const ORGS = ['acme', 'globex'] as const;
const MACHINES = 2;
/** Readings per second from all devices: steady traffic, not a load test (`bench:faults` is). */
const RATE = 20;
/** How long after a service is ready again the subscribers it cut off must deliver fresh readings (issue 11). */
const RECOVERY_MS = 5000;
/** Longest wait for anything to come about: far above the bound, so a miss shows as a measured time, not a time-out. */
const LONG_MS = 60_000;

const disposers = new Disposers();
let network: CliNetwork;
let services: ServiceProcess[];
let devices: Devices;
let startCursor: string;
let subscribers: ResumingSubscriber[];

beforeAll(async () => {
  network = await cliNetwork({ orgs: ORGS, gateways: 2 });
  disposers.add(() => network.stop());
  const { directory, orgs, gateways } = network;
  services = [directory, ...Object.values(orgs), ...gateways];
  await startServices(network);
  await createMachines(network, ORGS, MACHINES);
  startCursor = await endOfStream({ nats: await network.connectAs({ kind: 'operator' }, 'test-operator'), subjectPrefix: network.subjectPrefix });
  devices = await startDevices(network, { orgs: ORGS, machines: MACHINES, rate: RATE });
  disposers.add(() => devices.stop());
  // acme's dashboards on both gateways, globex's on the second.
  const placements: [string, ServiceProcess][] = [
    ['acme', gateways[0]!],
    ['globex', gateways[1]!],
    ['acme', gateways[1]!],
  ];
  subscribers = placements.map(([org, gateway], i) =>
    resumingSubscriber({
      name: `${i + 1} ${org}@${gateway.name}`,
      org,
      gateway,
      token: network.adminTokens[org]!,
      after: startCursor,
      sentAt: devices.sentAt,
    }),
  );
  disposers.add(() => Promise.all(subscribers.map((s) => s.finish())));
  // Every subscriber delivers before the first fault.
  const started = performance.now();
  await eventually(async () => expect(subscribers.filter((s) => s.freshAfter(started) === undefined).map((s) => s.name)).toEqual([]), { timeout: LONG_MS });
}, 180_000);
afterAll(() => disposers.dispose());

interface Outcome {
  /** From the service being ready again to the last affected subscriber receiving a fresh reading. */
  recoveryMs: number;
  /** What the other services' `/readyz` answered from the kill to the recovery (distinct answers). */
  readiness: Record<string, Set<string>>;
}

/**
 * Kills `service` (-9), waits until `noticed` holds (the others' `/readyz` say what is missing),
 * starts it again and waits until it is ready, then until every subscriber `affects` selects
 * has received a reading the devices sent after that.
 */
async function killAndRestart(service: ServiceProcess, noticed: () => Promise<void>, affects: (s: ResumingSubscriber) => boolean): Promise<Outcome> {
  let recovered!: () => void;
  const recovery = new Promise<void>((resolve) => (recovered = resolve));
  const readiness = watchReadiness(
    services.filter((s) => s !== service),
    recovery,
  );
  let recoveryMs: number;
  try {
    await service.kill('SIGKILL');
    await eventually(noticed, { timeout: LONG_MS });
    service.start();
    await service.ready(undefined, LONG_MS);
    const back = performance.now();
    const affected = subscribers.filter(affects);
    await eventually(async () => expect(affected.filter((s) => s.freshAfter(back) === undefined).map((s) => s.name)).toEqual([]), { timeout: LONG_MS });
    recoveryMs = Math.max(...affected.map((s) => s.freshAfter(back)! - back));
  } finally {
    recovered();
  }
  return { recoveryMs, readiness: await readiness };
}

/** What a service's `/readyz` answers now (its body). */
const readyz = async (service: ServiceProcess) => (await service.readiness()).body as Record<string, unknown>;

/**
 * A fault in one service must not make another unready (503) or unreachable. A probe that got
 * no answer within its 2 s (`timeout`) tells of a loaded machine, not of the service: not counted.
 */
function expectStayedReady(readiness: Record<string, Set<string>>): void {
  const unready = Object.entries(readiness).flatMap(([name, answers]) =>
    [...answers].filter((a) => !a.startsWith('200') && a !== 'timeout').map((a) => `${name}: ${a}`),
  );
  expect(unready).toEqual([]);
}

it(
  'an organization killed: gateways say it is unreachable and stay ready; its subscribers deliver within 5 s of its return',
  { timeout: 120_000 },
  async () => {
    const { orgs, gateways } = network;
    const { recoveryMs, readiness } = await killAndRestart(
      orgs.acme!,
      async () => {
        for (const gateway of gateways) expect(await readyz(gateway)).toMatchObject({ status: 'ready', directory: true, unreachable: ['acme'] });
      },
      (s) => s.org === 'acme',
    );
    expectStayedReady(readiness);
    expect(recoveryMs, 'ms from ready again to fresh readings delivered').toBeLessThan(RECOVERY_MS);
  },
);

it('a gateway killed: the others stay ready, its subscribers resume and deliver within 5 s of its return', { timeout: 120_000 }, async () => {
  const killed = network.gateways[0]!;
  const cutOff = subscribers.filter((s) => s.gateway === killed);
  const sessions = cutOff.map((s) => s.sessions);
  const { recoveryMs, readiness } = await killAndRestart(
    killed,
    async () => expect(await killed.readiness()).toMatchObject({ status: 0 }),
    (s) => s.gateway === killed,
  );
  expectStayedReady(readiness);
  // They were cut off and resumed after their last cursor (the last test checks that nothing was missed).
  expect(cutOff.map((s, i) => s.sessions > sessions[i]!)).toEqual(cutOff.map(() => true));
  expect(recoveryMs, 'ms from ready again to fresh readings delivered').toBeLessThan(RECOVERY_MS);
});

it('the directory killed: gateways say so and keep serving; every subscriber delivers within 5 s of its return', { timeout: 120_000 }, async () => {
  const { recoveryMs, readiness } = await killAndRestart(
    network.directory,
    async () => {
      for (const gateway of network.gateways) expect(await readyz(gateway)).toMatchObject({ status: 'ready', directory: false });
    },
    () => true,
  );
  expectStayedReady(readiness);
  expect(recoveryMs, 'ms from ready again to fresh readings delivered').toBeLessThan(RECOVERY_MS);
});

it(
  'loses and repeats nothing: every reading JetStream took is stored once, every subscriber has each STATE event it is owed once, in order',
  { timeout: 120_000 },
  async () => {
    await devices.stop();
    await settled(network, ORGS, LONG_MS);
    expect(await storedReadings(network, ORGS)).toEqual({ stored: devices.readings.sent, deadLetters: 0 });
    const owed = await stateEvents(network, startCursor);
    for (const org of ORGS) expect(owed.get(org)?.length, org).toBeGreaterThan(0);
    // Until each has the last event it is owed; what follows finds any missing, repeated or out of order.
    await eventually(async () => expect(subscribers.filter((s) => !s.received.includes(owed.get(s.org)!.at(-1)!)).map((s) => s.name)).toEqual([]), {
      timeout: LONG_MS,
    });
    await Promise.all(subscribers.map((s) => s.finish()));
    // Only the gateway's kill cut subscribers off: the others' one subscription lived through every fault.
    const uncut = subscribers.filter((s) => s.gateway !== network.gateways[0]);
    expect(uncut.map((s) => ({ subscriber: s.name, sessions: s.sessions, errors: [...s.errors] }))).toEqual(
      uncut.map((s) => ({ subscriber: s.name, sessions: 1, errors: [] })),
    );
    for (const s of subscribers) expect({ subscriber: s.name, received: s.received }).toEqual({ subscriber: s.name, received: owed.get(s.org) });
  },
);
