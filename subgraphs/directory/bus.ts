import {
  createBusSeeds,
  issueBusCredentials,
  natsServerAuthConfig,
  publicKeyOf,
  pushAccount,
  type BusCredentials,
  type BusRole,
  type BusSeeds,
} from '../../lib/bus/credentials.ts';
import { seal, unseal } from '../../lib/sealed.ts';
import type { DirectoryDb } from './db.ts';

const SEEDS = ['operator', 'system', 'account'] as const satisfies readonly (keyof BusSeeds)[];

/**
 * The network's NATS identities, kept by the network operator in the directory's store: the
 * keys the NATS server trusts, the users issued to members, devices and gateways, and the
 * streams every member needs. Only the operator's services hold it.
 */
export class NetworkBus {
  private constructor(
    private readonly db: DirectoryDb,
    readonly seeds: BusSeeds,
  ) {}

  /**
   * Creates the network's NATS keys unless the store has them (idempotent). `given` keys are
   * used instead of new ones: a NATS server already trusting an operator (tests, an existing
   * deployment).
   */
  static async init(db: DirectoryDb, keySecret: string, given: Partial<BusSeeds> = {}): Promise<NetworkBus> {
    const stored = await NetworkBus.open(db, keySecret);
    if (stored) return stored;
    const seeds = createBusSeeds(given);
    for (const name of SEEDS) {
      const publicKey = publicKeyOf(seeds[name]);
      await db.busKey.create({ data: { name, publicKey, sealedSeed: await seal(seeds[name], keySecret, publicKey) } });
    }
    return new NetworkBus(db, seeds);
  }

  /** The network's NATS identities, or null when the network runs NATS without them. */
  static async open(db: DirectoryDb, keySecret: string): Promise<NetworkBus | null> {
    const rows = await db.busKey.findMany();
    if (rows.length === 0) return null;
    const seeds: Partial<BusSeeds> = {};
    for (const name of SEEDS) {
      const row = rows.find((key) => key.name === name);
      if (!row) throw new Error(`the network's NATS keys are incomplete (no ${name} key): restore the directory's store`);
      seeds[name] = await unseal(row.sealedSeed, keySecret, row.publicKey);
    }
    return new NetworkBus(db, seeds as BusSeeds);
  }

  /** nats-server configuration that trusts this network (see `natsServerAuthConfig`). */
  serverConfig(jwtDir: string): Promise<string> {
    return natsServerAuthConfig(this.seeds, jwtDir);
  }

  /**
   * Issues credentials for a role. Members', devices' and gateways' users are recorded, so that
   * suspending a member revokes its users; the operator's own services mint theirs at start.
   */
  async credentials(role: BusRole, subjectPrefix: string): Promise<BusCredentials> {
    if (role.kind === 'member' || role.kind === 'device') {
      // A suspended member's new user would count until the next account update. (One not
      // registered yet may have its: nothing it says is heard before it is.)
      const member = await this.db.organization.findUnique({ where: { slug: role.org }, select: { status: true } });
      if (member?.status === 'SUSPENDED') throw new Error(`${role.org} is suspended: no credentials for it`);
    }
    const issued = await issueBusCredentials(this.seeds.account, role, subjectPrefix);
    if (role.kind !== 'operator') {
      const org = role.kind === 'gateway' ? null : role.org;
      const name = role.kind === 'device' ? role.device : role.kind;
      await this.db.busUser.create({ data: { publicKey: issued.publicKey, role: role.kind, org, name } });
    }
    return issued;
  }

  /**
   * Pushes the account as the registry says it must be to the running NATS server: every user
   * of a suspended member revoked (the server closes their connections at once), the others
   * let in again.
   */
  async pushAccount(natsUrl: string): Promise<void> {
    const suspended = await this.db.organization.findMany({ where: { status: 'SUSPENDED' }, select: { slug: true } });
    const users = await this.db.busUser.findMany({ where: { org: { in: suspended.map((member) => member.slug) } }, select: { publicKey: true } });
    // A revocation covers the user's JWTs issued up to that second: all of them.
    const now = Math.floor(Date.now() / 1000);
    await pushAccount(natsUrl, this.seeds, Object.fromEntries(users.map((user) => [user.publicKey, now])));
  }
}
