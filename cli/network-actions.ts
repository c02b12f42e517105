// What `twinx network …` does (see network.ts): loaded by the command that runs, with the
// directory's store, the network's NATS keys and the gateways' member checks.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEVICE_NAME, type BusRole } from '../lib/bus/credentials.ts';
import { commonSettings, loadConfig } from '../lib/config.ts';
import { fetchServiceSdl } from '../lib/graphql/service-query.ts';
import { checkMemberSdl } from '../gateway/membership.ts';
import { NetworkBus } from '../subgraphs/directory/bus.ts';
import { directoryDbSettings, operatorSettings } from '../subgraphs/directory/config.ts';
import { withDirectoryDb, type DirectoryDb } from '../subgraphs/directory/db.ts';
import { initNetwork as initNetworkStores, migrateNetworkStores } from '../subgraphs/directory/main.ts';
import { addOrganization, setStatus, type Organization } from '../subgraphs/directory/registry.ts';
import { orgDbSettings } from '../subgraphs/org/config.ts';
import { cliActor, expiresInSetting } from './org.ts';

/** Changes the registry in the directory's store; every directory replica hears of it (NOTIFY) and tells the gateways. */
async function changeRegistry(flags: object, change: (db: DirectoryDb) => Promise<Organization>): Promise<void> {
  const member = await withDirectoryDb(loadConfig(directoryDbSettings, flags, process.env), change);
  console.log(`${member.slug}  ${member.status}  ${member.subgraphUrl}`);
}

/** What issuing NATS credentials needs: the directory's store, the key secret, the network's subject prefix. */
const credentialSettings = {
  ...directoryDbSettings,
  keySecret: operatorSettings.keySecret,
  subjectPrefix: commonSettings.subjectPrefix,
};

/**
 * Issues NATS credentials for a role and writes them to `out` (mode 600), or prints them. Says
 * which inbox prefix the client must use.
 */
async function issueCredentials(flags: object, role: BusRole, out: string | undefined): Promise<void> {
  const config = loadConfig(credentialSettings, flags, process.env);
  await withDirectoryDb(config, async (db) => {
    const network = await NetworkBus.open(db, config.keySecret);
    if (!network) throw new Error('this network has no NATS keys: run `twinx network init` first');
    const issued = await network.credentials(role, config.subjectPrefix);
    const about = `NATS user ${issued.publicKey}${issued.inboxPrefix ? `; its clients must use the inbox prefix ${issued.inboxPrefix}` : ''}`;
    if (out) {
      writeFileSync(out, issued.creds, { mode: 0o600 });
      console.log(`${about}\ncredentials written to ${out}`);
    } else console.log(`${about}\n${issued.creds}`);
  });
}

/** What gateways make of the SDL a member serves, checked as they check it (gateway/membership.ts). */
async function verdictOn(member: Organization): Promise<string> {
  let sdl: string;
  try {
    ({ sdl } = await fetchServiceSdl(member.subgraphUrl, 3000));
  } catch (error) {
    return `unreachable, composed from the template: ${error instanceof Error ? error.message : String(error)}`;
  }
  const check = checkMemberSdl(member.slug, sdl);
  return check.accepted ? `template v${check.version}` : `refused: ${check.reason}`;
}

/** `twinx network init` */
export async function initNetwork(flags: object): Promise<void> {
  const config = loadConfig(
    {
      ...operatorSettings,
      expiresIn: expiresInSetting(90 * 86_400_000),
      natsConfig: { flag: 'nats-config', env: 'TWINX_NATS_CONFIG', schema: z.string().min(1).default('twinx-nats.conf') },
      natsJwtDir: { flag: 'nats-jwt-dir', env: 'TWINX_NATS_JWT_DIR', schema: z.string().min(1).default('twinx-nats-jwt') },
    },
    flags,
    process.env,
  );
  await migrateNetworkStores(config);
  const { admin, natsServerConfig } = await initNetworkStores(config, cliActor(), config.expiresIn);
  writeFileSync(config.natsConfig, await natsServerConfig(resolve(config.natsJwtDir)), { mode: 0o600 });
  console.log(`NATS server configuration written to ${config.natsConfig}: run \`nats-server -js -c ${config.natsConfig}\` (nats-server 2.9 or later)`);
  if (!admin) {
    console.log('the network is already set up');
    return;
  }
  console.log(`the network is set up; operator signing key ${admin.kid}`);
  console.log(`operator administrator token (shown once, expires ${admin.expiresAt.toISOString()}):\n${admin.token}`);
}

/** `twinx network add` */
export async function addMember(flags: { slug: string; name: string; url: string; jwksUrl?: string; credsOut?: string }): Promise<void> {
  await changeRegistry(flags, (db) =>
    addOrganization(db, {
      slug: flags.slug,
      name: flags.name,
      subgraphUrl: flags.url,
      jwksUrl: flags.jwksUrl ?? new URL('/.well-known/jwks.json', flags.url).href,
    }),
  );
  await issueCredentials(flags, { kind: 'member', org: flags.slug }, flags.credsOut);
}

/** `twinx network credentials` */
export async function issueCredentialsFor(flags: { role: BusRole['kind']; org?: string; device?: string; out?: string }): Promise<void> {
  const org = () => loadConfig({ org: orgDbSettings.org }, flags, process.env).org;
  const device = () => z.string().regex(DEVICE_NAME, '--device: letters, digits, - and _').parse(flags.device);
  const role: BusRole =
    flags.role === 'gateway'
      ? { kind: 'gateway' }
      : flags.role === 'member'
        ? { kind: 'member', org: org() }
        : { kind: 'device', org: org(), device: device() };
  await issueCredentials(flags, role, flags.out);
}

/** `twinx network activate` / `suspend` */
export function setMemberStatus(flags: object, slug: string, status: 'ACTIVE' | 'SUSPENDED'): Promise<void> {
  return changeRegistry(flags, (db) => setStatus(db, slug, status));
}

/** `twinx network list` */
export async function listMembers(flags: object): Promise<void> {
  const members = await withDirectoryDb(loadConfig(directoryDbSettings, flags, process.env), (db) => db.organization.findMany({ orderBy: { slug: 'asc' } }));
  const verdicts = await Promise.all(members.map((member) => (member.status === 'SUSPENDED' ? '' : verdictOn(member))));
  members.forEach((member, index) => console.log(`${member.slug}  ${member.status}  ${member.name}  ${member.subgraphUrl}  ${verdicts[index]}`.trimEnd()));
}
