import { Option, type Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEVICE_NAME, type BusRole } from '../lib/bus/credentials.ts';
import { commonSettings, loadConfig } from '../lib/config.ts';
import { fetchServiceSdl } from '../lib/graphql/service-query.ts';
import { gatewaySettings } from '../gateway/config.ts';
import { checkMemberSdl } from '../gateway/membership.ts';
import { serveGateway } from '../gateway/main.ts';
import { NetworkBus } from '../subgraphs/directory/bus.ts';
import { directoryDbSettings, directorySettings, operatorSettings } from '../subgraphs/directory/config.ts';
import { createDirectoryDb, type DirectoryDb } from '../subgraphs/directory/db.ts';
import { initNetwork, migrateNetworkStores, serveDirectory } from '../subgraphs/directory/main.ts';
import { addOrganization, setStatus, type Organization } from '../subgraphs/directory/registry.ts';
import { orgDbSettings } from '../subgraphs/org/config.ts';
import { cliActor, expiresInSetting } from './org.ts';

function withDirectoryDatabaseOption(command: Command): Command {
  return command.option('--database-url <url>', "the directory's store: postgresql://…, pglite:<dir> (env DATABASE_URL)");
}

function withNetworkStoreOptions(command: Command): Command {
  return withDirectoryDatabaseOption(command).option(
    '--operator-database-url <url>',
    "the network operator's store, its keys and tokens (env TWINX_OPERATOR_DATABASE_URL)",
  );
}

/** Runs `run` on the directory's store, then closes it. */
async function withDirectoryDb<T>(config: { databaseUrl: string }, run: (db: DirectoryDb) => Promise<T>): Promise<T> {
  const db = createDirectoryDb({ databaseUrl: config.databaseUrl, poolSize: 1 });
  try {
    return await run(db);
  } finally {
    await db.$disconnect();
  }
}

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
    sdl = await fetchServiceSdl(member.subgraphUrl, 3000);
  } catch (error) {
    return `unreachable, composed from the template: ${error instanceof Error ? error.message : String(error)}`;
  }
  const check = checkMemberSdl(member.slug, sdl);
  return check.accepted ? `template v${check.version}` : `refused: ${check.reason}`;
}

export function registerNetworkCommands(program: Command): void {
  const directory = program.command('directory').description("the network's directory: membership registry and twin catalog");
  withNetworkStoreOptions(directory.command('serve'))
    .description('serve the directory subgraph')
    .option('--key-secret <secret>', "secret encrypting the operator's private keys (env TWINX_KEY_SECRET)")
    .option('--nats-url <url>', 'NATS servers (env NATS_URL; default nats://127.0.0.1:4222)')
    .option('--subject-prefix <prefix>', 'NATS subject prefix of the network (env TWINX_SUBJECT_PREFIX)')
    .option('--port <port>', 'HTTP port (env TWINX_PORT; default 4100)')
    .option('--host <host>', 'HTTP interface (env TWINX_HOST; default 127.0.0.1)')
    .option('--events-max-bytes <bytes>', "bytes of events the network's stream keeps, oldest dropped first (env TWINX_EVENTS_MAX_BYTES; default 8 GiB)")
    .option(
      '--ingest-max-bytes <bytes>',
      "bytes of device telemetry waiting per organization, then devices' publishes are refused (env TWINX_INGEST_MAX_BYTES; default 1 GiB)",
    )
    .option('--ingest-max-message-bytes <bytes>', 'largest device message (env TWINX_INGEST_MAX_MESSAGE_BYTES; default 1 MiB)')
    .option('--metrics-listen <host:port>', 'where /metrics is served, apart from the public port (env TWINX_METRICS_LISTEN; default 127.0.0.1:9500)')
    .option('--migrate', 'apply pending migrations first (env TWINX_MIGRATE)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => serveDirectory(loadConfig(directorySettings, flags, process.env)));

  const network = program.command('network').description("the network's membership, administered by its operator");
  withNetworkStoreOptions(network.command('init'))
    .description("set up the directory's and the operator's stores and the network's NATS keys; print the operator's first administrator token")
    .option('--key-secret <secret>', "secret encrypting the operator's private keys (env TWINX_KEY_SECRET)")
    .option('--expires-in <duration>', 'life of the administrator token (default 90d)')
    .option('--nats-config <file>', "where to write the NATS server's configuration for this network (default twinx-nats.conf)")
    .option('--nats-jwt-dir <dir>', 'where the NATS server keeps account JWTs (default twinx-nats-jwt, beside the configuration)')
    .action(async (flags: object) => {
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
      const { admin, natsServerConfig } = await initNetwork(config, cliActor(), config.expiresIn);
      writeFileSync(config.natsConfig, await natsServerConfig(resolve(config.natsJwtDir)), { mode: 0o600 });
      console.log(`NATS server configuration written to ${config.natsConfig}: run \`nats-server -js -c ${config.natsConfig}\` (nats-server 2.9 or later)`);
      if (!admin) {
        console.log('the network is already set up');
        return;
      }
      console.log(`the network is set up; operator signing key ${admin.kid}`);
      console.log(`operator administrator token (shown once, expires ${admin.expiresAt.toISOString()}):\n${admin.token}`);
    });
  const credentialOptions = (command: Command) =>
    withDirectoryDatabaseOption(command)
      .option('--key-secret <secret>', "secret encrypting the operator's private keys (env TWINX_KEY_SECRET)")
      .option('--subject-prefix <prefix>', 'NATS subject prefix of the network (env TWINX_SUBJECT_PREFIX)');
  credentialOptions(network.command('add'))
    .description("register an organization (PENDING: gateways compose it, its twins are not handed out yet) and issue its subgraph's NATS credentials")
    .requiredOption('--slug <slug>', 'organization slug')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--url <url>', "the organization's GraphQL endpoint")
    .option('--jwks-url <url>', 'its public keys (default: /.well-known/jwks.json beside --url)')
    .option('--creds-out <file>', 'write its NATS credentials there (default: print them)')
    .action(async (flags: { slug: string; name: string; url: string; jwksUrl?: string; credsOut?: string }) => {
      await changeRegistry(flags, (db) =>
        addOrganization(db, {
          slug: flags.slug,
          name: flags.name,
          subgraphUrl: flags.url,
          jwksUrl: flags.jwksUrl ?? new URL('/.well-known/jwks.json', flags.url).href,
        }),
      );
      await issueCredentials(flags, { kind: 'member', org: flags.slug }, flags.credsOut);
    });
  credentialOptions(network.command('credentials'))
    .description("issue NATS credentials: an organization's subgraph (member), one of its devices, or a gateway")
    .addOption(new Option('--role <role>', 'who they are for').choices(['member', 'device', 'gateway']).makeOptionMandatory())
    .option('--org <slug>', 'the organization (member, device)')
    .option('--device <name>', 'the device (letters, digits, - and _)')
    .option('--out <file>', 'write them there (default: print them)')
    .action(async (flags: { role: BusRole['kind']; org?: string; device?: string; out?: string }) => {
      const org = () => loadConfig({ org: orgDbSettings.org }, flags, process.env).org;
      const device = () => z.string().regex(DEVICE_NAME, '--device: letters, digits, - and _').parse(flags.device);
      const role: BusRole =
        flags.role === 'gateway'
          ? { kind: 'gateway' }
          : flags.role === 'member'
            ? { kind: 'member', org: org() }
            : { kind: 'device', org: org(), device: device() };
      await issueCredentials(flags, role, flags.out);
    });
  const registryOptions = withDirectoryDatabaseOption;
  registryOptions(network.command('activate'))
    .description("hand out the organization's twins (after gateways composed it)")
    .argument('<slug>')
    .action(async (slug: string, flags: object) => changeRegistry(flags, (db) => setStatus(db, slug, 'ACTIVE')));
  registryOptions(network.command('suspend'))
    .description('take the organization out of the network graph')
    .argument('<slug>')
    .action(async (slug: string, flags: object) => changeRegistry(flags, (db) => setStatus(db, slug, 'SUSPENDED')));
  withDirectoryDatabaseOption(network.command('list'))
    .description('list the members, each with what gateways make of the SDL it serves: its template version, refused (why) or unreachable')
    .action(async (flags: object) => {
      const members = await withDirectoryDb(loadConfig(directoryDbSettings, flags, process.env), (db) =>
        db.organization.findMany({ orderBy: { slug: 'asc' } }),
      );
      const verdicts = await Promise.all(members.map((member) => (member.status === 'SUSPENDED' ? '' : verdictOn(member))));
      members.forEach((member, index) => console.log(`${member.slug}  ${member.status}  ${member.name}  ${member.subgraphUrl}  ${verdicts[index]}`.trimEnd()));
    });

  program
    .command('gateway')
    .description('the supplier-network gateway')
    .command('serve')
    .description('federate the directory and every member into one graph')
    .option('--directory-url <url>', "the directory's GraphQL URL (env TWINX_DIRECTORY_URL)")
    .option('--nats-url <url>', 'NATS servers (env NATS_URL; default nats://127.0.0.1:4222)')
    .option('--subject-prefix <prefix>', 'NATS subject prefix of the network (env TWINX_SUBJECT_PREFIX)')
    .option('--nats-creds <file>', 'its NATS credentials, from `twinx network credentials --role gateway` (env NATS_CREDS)')
    .option('--port <port>', 'HTTP port (env TWINX_PORT; default 4000)')
    .option('--host <host>', 'HTTP interface (env TWINX_HOST; default 127.0.0.1)')
    .option('--metrics-listen <host:port>', 'where /metrics is served, apart from the public port (env TWINX_METRICS_LISTEN; default 127.0.0.1:9400)')
    .option('--subgraph-timeout-ms <ms>', 'longest wait for one subgraph (default 5000)')
    .option('--max-depth <n>', 'deepest query accepted (default 12)')
    .option('--max-cost <n>', 'costliest query accepted (default 20000)')
    .option('--max-buffered-bytes <n>', 'bytes a subscriber may have waiting before it is closed as too slow (default 1048576)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => serveGateway(loadConfig(gatewaySettings, flags, process.env)));
}
