import type { Command } from 'commander';
import { commonSettings, loadConfig, values } from '../lib/config.ts';
import { fetchServiceSdl } from '../lib/graphql/service-query.ts';
import { connectNats, natsNames } from '../lib/nats.ts';
import { gatewaySettings } from '../gateway/config.ts';
import { checkMemberSdl } from '../gateway/membership.ts';
import { serveGateway } from '../gateway/main.ts';
import { directoryDbSettings, directorySettings, operatorSettings } from '../subgraphs/directory/config.ts';
import { createDirectoryDb, type DirectoryDb } from '../subgraphs/directory/db.ts';
import { initOperator, migrateNetworkStores, serveDirectory } from '../subgraphs/directory/main.ts';
import { addOrganization, setStatus, type Organization } from '../subgraphs/directory/registry.ts';
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

/** Changes the registry directly in the directory's store, then tells gateways (best effort: they also poll). */
async function changeRegistry(flags: object, change: (db: DirectoryDb) => Promise<Organization>): Promise<void> {
  const config = loadConfig(
    {
      ...directoryDbSettings,
      natsUrl: commonSettings.natsUrl,
      subjectPrefix: { ...commonSettings.subjectPrefix, schema: values.subjectPrefix.optional() },
    },
    flags,
    process.env,
  );
  const member = await withDirectoryDb(config, change);
  console.log(`${member.slug}  ${member.status}  ${member.subgraphUrl}`);
  if (config.subjectPrefix) {
    const nats = await connectNats(config.natsUrl, 'twinx-cli');
    nats.publish(natsNames(config.subjectPrefix).networkChangedSubject);
    await nats.drain();
  }
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
    .option('--migrate', 'apply pending migrations first (env TWINX_MIGRATE)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => serveDirectory(loadConfig(directorySettings, flags, process.env)));

  const network = program.command('network').description("the network's membership, administered by its operator");
  withNetworkStoreOptions(network.command('init'))
    .description("set up the directory's and the operator's stores; print the operator's first administrator token")
    .option('--key-secret <secret>', "secret encrypting the operator's private keys (env TWINX_KEY_SECRET)")
    .option('--expires-in <duration>', 'life of the administrator token (default 90d)')
    .action(async (flags: object) => {
      const config = loadConfig({ ...operatorSettings, expiresIn: expiresInSetting(90 * 86_400_000) }, flags, process.env);
      await migrateNetworkStores(config);
      const operator = await initOperator(config, cliActor(), config.expiresIn);
      if (!operator) {
        console.log('the network is already set up');
        return;
      }
      console.log(`the network is set up; operator signing key ${operator.kid}`);
      console.log(`operator administrator token (shown once, expires ${operator.expiresAt.toISOString()}):\n${operator.token}`);
    });
  const registryOptions = (command: Command) =>
    withDirectoryDatabaseOption(command)
      .option('--nats-url <url>', 'NATS servers, to tell gateways at once (env NATS_URL)')
      .option('--subject-prefix <prefix>', 'NATS subject prefix of the network (env TWINX_SUBJECT_PREFIX)');
  registryOptions(network.command('add'))
    .description('register an organization (PENDING: gateways compose it, its twins are not handed out yet)')
    .requiredOption('--slug <slug>', 'organization slug')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--url <url>', "the organization's GraphQL endpoint")
    .option('--jwks-url <url>', 'its public keys (default: /.well-known/jwks.json beside --url)')
    .action(async (flags: { slug: string; name: string; url: string; jwksUrl?: string }) =>
      changeRegistry(flags, (db) =>
        addOrganization(db, {
          slug: flags.slug,
          name: flags.name,
          subgraphUrl: flags.url,
          jwksUrl: flags.jwksUrl ?? new URL('/.well-known/jwks.json', flags.url).href,
        }),
      ),
    );
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
    .option('--port <port>', 'HTTP port (env TWINX_PORT; default 4000)')
    .option('--host <host>', 'HTTP interface (env TWINX_HOST; default 127.0.0.1)')
    .option('--subgraph-timeout-ms <ms>', 'longest wait for one subgraph (default 5000)')
    .option('--max-depth <n>', 'deepest query accepted (default 12)')
    .option('--max-cost <n>', 'costliest query accepted (default 20000)')
    .option('--max-buffered-bytes <n>', 'bytes a subscriber may have waiting before it is closed as too slow (default 1048576)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => serveGateway(loadConfig(gatewaySettings, flags, process.env)));
}
