import { Option, type Command } from 'commander';
import type { BusRole } from '../lib/bus/credentials.ts';
import { loadConfig } from '../lib/config.ts';
import { gatewaySettings } from '../gateway/config.ts';
import { directorySettings } from '../subgraphs/directory/config.ts';
import { CORS_ORIGINS, CORS_ORIGINS_HELP } from './org.ts';

/** What the network commands do, loaded only by the command that runs. */
const actions = () => import('./network-actions.ts');

function withDirectoryDatabaseOption(command: Command): Command {
  return command.option('--database-url <url>', "the directory's store: postgresql://…, pglite:<dir> (env DATABASE_URL)");
}

function withNetworkStoreOptions(command: Command): Command {
  return withDirectoryDatabaseOption(command).option(
    '--operator-database-url <url>',
    "the network operator's store, its keys and tokens (env TWINX_OPERATOR_DATABASE_URL)",
  );
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
    .option(CORS_ORIGINS, CORS_ORIGINS_HELP)
    .option('--metrics-listen <host:port>', 'where /metrics is served, apart from the public port (env TWINX_METRICS_LISTEN; default 127.0.0.1:9500)')
    .option('--migrate', 'apply pending migrations first (env TWINX_MIGRATE)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => {
      const config = loadConfig(directorySettings, flags, process.env);
      const { serveDirectory } = await import('../subgraphs/directory/main.ts');
      await serveDirectory(config);
    });

  const network = program.command('network').description("the network's membership, administered by its operator");
  withNetworkStoreOptions(network.command('init'))
    .description("set up the directory's and the operator's stores and the network's NATS keys; print the operator's first administrator token")
    .option('--key-secret <secret>', "secret encrypting the operator's private keys (env TWINX_KEY_SECRET)")
    .option('--expires-in <duration>', 'life of the administrator token (default 90d)')
    .option('--nats-config <file>', "where to write the NATS server's configuration for this network (default twinx-nats.conf)")
    .option('--nats-jwt-dir <dir>', 'where the NATS server keeps account JWTs (default twinx-nats-jwt, beside the configuration)')
    .action(async (flags: object) => {
      await (await actions()).initNetwork(flags);
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
      await (await actions()).addMember(flags);
    });
  credentialOptions(network.command('credentials'))
    .description("issue NATS credentials: an organization's subgraph (member), one of its devices, or a gateway")
    .addOption(new Option('--role <role>', 'who they are for').choices(['member', 'device', 'gateway']).makeOptionMandatory())
    .option('--org <slug>', 'the organization (member, device)')
    .option('--device <name>', 'the device (letters, digits, - and _)')
    .option('--out <file>', 'write them there (default: print them)')
    .action(async (flags: { role: BusRole['kind']; org?: string; device?: string; out?: string }) => {
      await (await actions()).issueCredentialsFor(flags);
    });
  const registryOptions = withDirectoryDatabaseOption;
  registryOptions(network.command('activate'))
    .description("hand out the organization's twins (after gateways composed it)")
    .argument('<slug>')
    .action(async (slug: string, flags: object) => (await actions()).setMemberStatus(flags, slug, 'ACTIVE'));
  registryOptions(network.command('suspend'))
    .description('take the organization out of the network graph')
    .argument('<slug>')
    .action(async (slug: string, flags: object) => (await actions()).setMemberStatus(flags, slug, 'SUSPENDED'));
  withDirectoryDatabaseOption(network.command('list'))
    .description('list the members, each with what gateways make of the SDL it serves: its template version, refused (why) or unreachable')
    .action(async (flags: object) => {
      await (await actions()).listMembers(flags);
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
    .option(CORS_ORIGINS, CORS_ORIGINS_HELP)
    .option('--metrics-listen <host:port>', 'where /metrics is served, apart from the public port (env TWINX_METRICS_LISTEN; default 127.0.0.1:9400)')
    .option('--subgraph-timeout-ms <ms>', 'longest wait for one subgraph (default 5000)')
    .option('--dedupe', 'identical queries in flight at once to one subgraph, with the same tokens, share one request (env TWINX_GATEWAY_DEDUPE; default on)')
    .option('--no-dedupe', 'send every subgraph query of every request')
    .option('--max-depth <n>', 'deepest query accepted (default 12)')
    .option('--max-cost <n>', 'costliest query accepted (default 20000)')
    .option('--rate-limit <n>', 'requests per second each caller may make on average, keyed by its first token (env TWINX_RATE_LIMIT; default 50)')
    .option('--rate-burst <n>', 'requests each caller may make at once after being idle (env TWINX_RATE_BURST; default 200)')
    .option('--max-buffered-bytes <n>', 'bytes a subscriber may have waiting before it is closed as too slow (default 1048576)')
    .option('--state-dir <dir>', "where members' keys are kept between runs, one per gateway (env TWINX_GATEWAY_STATE_DIR; default .twinx/gateway)")
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => {
      const config = loadConfig(gatewaySettings, flags, process.env);
      const { serveGateway } = await import('../gateway/main.ts');
      await serveGateway(config);
    });
}
