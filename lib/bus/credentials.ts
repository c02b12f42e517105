// Who may do what on a network's NATS, enforced by nats-server itself (decentralized JWT auth,
// https://docs.nats.io/running-a-nats-service/configuration/securing_nats/jwt): the network
// operator's NATS operator key signs one account per network; the account's key signs one user
// per organization service, device, gateway and operator service, each with publish and
// subscribe permissions that name exactly its own subjects. nats-server 2.9 enforces all of it;
// adding a member is issuing a user (no server change), suspending one is an account update
// pushed to the running server (`$SYS.REQ.CLAIMS.UPDATE`), never a restart.
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type KeyPair,
  type Permissions,
} from '@nats-io/jwt';
import { connectNats, DURABLES, inboxPrefixIn, natsNames } from '../nats.ts';

/** One who connects to a network's NATS account. */
export type BusRole =
  /** The network operator's services (directory, CLI): creates and manages the streams. */
  | { kind: 'operator' }
  /** A gateway: reads events and announcements, reports accesses to organizations. */
  | { kind: 'gateway' }
  /** An organization's subgraph: publishes its own events and announcements, consumes its own ingest. */
  | { kind: 'member'; org: string }
  /** One of an organization's devices: publishes telemetry for that organization only. */
  | { kind: 'device'; org: string; device: string };

/** Device names: one subject token. */
export const DEVICE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A user's name in its JWT, which also names its inbox. */
function busUserName(role: BusRole): string {
  switch (role.kind) {
    case 'operator':
    case 'gateway':
      return role.kind;
    case 'member':
      return `member_${role.org}`;
    case 'device':
      return `device_${role.org}_${role.device}`;
  }
}

/**
 * JetStream API subjects to read a stream through ephemeral ordered consumers (gateways):
 * creating them, reading, deleting them. A consumer created this way could be a push consumer
 * delivering anywhere: only the gateways, run for the network operator, may.
 */
function orderedConsumerApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
  ];
}

/** JetStream API subjects to take the messages of one durable consumer the operator created (never to create or change one). */
function durableConsumerApi(stream: string, durable: string): string[] {
  return [`$JS.API.CONSUMER.INFO.${stream}.${durable}`, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`, `$JS.ACK.${stream}.${durable}.>`];
}

/** Every JetStream API subject that reaches one durable consumer. */
function durableApi(stream: string, durable: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.DELETE.${stream}.${durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/**
 * What nats-server lets a role do in a network with this subject prefix (`undefined`: everything
 * in the network's account, for the operator's services). Everything not allowed is refused,
 * which covers what members must never do: publish on another organization's subjects, read
 * another organization's ingest or the network's events, purge, delete or edit streams,
 * announce membership changes, or listen to anyone else's replies (each user has an inbox
 * prefix of its own, `_INBOX_<name>`).
 */
export function busPermissions(role: BusRole, subjectPrefix: string): Partial<Permissions> | undefined {
  const names = natsNames(subjectPrefix);
  const inbox = `_INBOX_${busUserName(role)}.>`;
  switch (role.kind) {
    case 'operator':
      return undefined;
    case 'gateway':
      return {
        pub: {
          allow: ['$JS.API.INFO', ...orderedConsumerApi(names.eventsStream), ...orderedConsumerApi(names.revocationsStream), names.accessReportSubject('*')],
          deny: [...durableApi(names.eventsStream, DURABLES.catalog), ...durableApi(names.revocationsStream, DURABLES.revocations)],
        },
        sub: { allow: [inbox, names.networkChangedSubject] },
      };
    case 'member':
      return {
        pub: {
          allow: [
            '$JS.API.INFO',
            ...durableConsumerApi(names.ingestStream(role.org), DURABLES.ingest),
            ...durableConsumerApi(names.accessReportStream(role.org), DURABLES.accessReports),
            names.orgEventSubjects(role.org),
            names.revocationSubject(role.org),
            names.deadLetterSubject(role.org),
          ],
        },
        sub: { allow: [inbox] },
      };
    case 'device':
      return { pub: { allow: [names.ingestSubject(role.org)] }, sub: { allow: [inbox] } };
  }
}

/** Limits of an account or a user: none beyond what the server itself has. */
const UNLIMITED = { subs: -1, data: -1, payload: -1 };
const UNLIMITED_ACCOUNT = { ...UNLIMITED, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
/**
 * JetStream enabled for the network's account, bounded by the server's own limits; every stream
 * must declare its size (`max_bytes_required`, nats-server 2.7+), so that none can grow without
 * bound (lib/nats.ts gives each its size).
 */
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1, max_bytes_required: true };

/** The keys of a network's NATS identities, as seeds (`SO…`, `SA…`). */
export interface BusSeeds {
  /** Signs account JWTs; the NATS server trusts it. */
  operator: string;
  /** The system account: pushes account updates to the running server. */
  system: string;
  /** The network's account: signs its users. */
  account: string;
}

const seedOf = (pair: KeyPair) => new TextDecoder().decode(pair.getSeed());

/** New keys for a network's NATS (operator, system account, network account). */
export function createBusSeeds(existing: Partial<BusSeeds> = {}): BusSeeds {
  return {
    operator: existing.operator ?? seedOf(createOperator()),
    system: existing.system ?? seedOf(createAccount()),
    account: existing.account ?? seedOf(createAccount()),
  };
}

const pair = (seed: string) => fromSeed(new TextEncoder().encode(seed));

/** The public key of a seed. */
export function publicKeyOf(seed: string): string {
  return pair(seed).getPublicKey();
}

/**
 * The network's account JWT, signed by the operator. `revoked` maps user public keys to the
 * time (seconds) up to which their JWTs no longer count: suspended members' users.
 */
function networkAccountJwt(seeds: BusSeeds, revoked: Record<string, number> = {}): Promise<string> {
  return encodeAccount(
    'twinx',
    pair(seeds.account),
    { limits: { ...UNLIMITED_ACCOUNT, ...JETSTREAM }, revocations: revoked },
    { signer: pair(seeds.operator) },
  );
}

/**
 * The part of nats-server's configuration that makes it trust this network's operator: the
 * operator JWT, the system account, and a resolver that keeps account JWTs in `jwtDir` and
 * takes updates pushed by the system account (`type: full`, nats-server 2.2+).
 */
export async function natsServerAuthConfig(seeds: BusSeeds, jwtDir: string): Promise<string> {
  const operator = pair(seeds.operator);
  const system = pair(seeds.system);
  const operatorJwt = await encodeOperator('twinx', operator, { system_account: system.getPublicKey() });
  const systemJwt = await encodeAccount('SYS', system, { limits: UNLIMITED_ACCOUNT }, { signer: operator });
  return `# twinx network operator: decentralized JWT auth (generated by twinx; keep it with the server's configuration)
operator: ${operatorJwt}
system_account: ${system.getPublicKey()}
resolver: { type: full, dir: ${JSON.stringify(jwtDir)}, allow_delete: false }
resolver_preload: {
  ${system.getPublicKey()}: ${systemJwt}
  ${publicKeyOf(seeds.account)}: ${await networkAccountJwt(seeds)}
}
`;
}

/** A user's credentials: the `.creds` file NATS clients take, and what else they need to know. */
export interface BusCredentials {
  /** Text of a NATS `.creds` file (user JWT and seed). */
  creds: string;
  publicKey: string;
  /** Where its replies must go (nats.js `inboxPrefix`, `nats --inbox-prefix`); none for the operator. */
  inboxPrefix?: string;
}

/** Issues a user of the network's account for a role (no expiry: suspension revokes it). */
export async function issueBusCredentials(accountSeed: string, role: BusRole, subjectPrefix: string): Promise<BusCredentials> {
  const user = createUser();
  const permissions = busPermissions(role, subjectPrefix);
  const jwt = await encodeUser(busUserName(role), user, pair(accountSeed), { ...UNLIMITED, ...permissions });
  return { creds: new TextDecoder().decode(fmtCreds(jwt, user)), publicKey: user.getPublicKey(), inboxPrefix: inboxPrefixIn(permissions) };
}

/** Answer of nats-server to `$SYS.REQ.CLAIMS.UPDATE`. */
interface ClaimsUpdateAnswer {
  data?: { code?: number; message?: string };
  error?: { code?: number; description?: string };
}

/**
 * Pushes the network's account to a running NATS server (as a user of the system account,
 * `$SYS.REQ.CLAIMS.UPDATE`; the server's resolver keeps it). The server then closes the
 * connections of users the account revokes and refuses them.
 */
export async function pushAccount(natsUrl: string, seeds: BusSeeds, revoked: Record<string, number> = {}): Promise<void> {
  const user = createUser();
  const creds = new TextDecoder().decode(fmtCreds(await encodeUser('system', user, pair(seeds.system), UNLIMITED), user));
  const system = await connectNats(natsUrl, 'twinx-network-system', creds);
  try {
    const answer = (await system.request('$SYS.REQ.CLAIMS.UPDATE', await networkAccountJwt(seeds, revoked), { timeout: 5000 })).json<ClaimsUpdateAnswer>();
    if (answer.error || answer.data?.code !== 200) throw new Error(`NATS refused the network's account: ${answer.error?.description ?? answer.data?.message}`);
  } finally {
    await system.close();
  }
}
