import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { loadConfig, values } from '../lib/config.ts';
import { orgSettings, orgStoreSettings } from '../subgraphs/org/config.ts';

/** Adds the option every command on an organization's store takes. */
export function withOrgDatabaseOption(command: Command): Command {
  return command.option('--database-url <url>', "the organization's PostgreSQL database (env DATABASE_URL)");
}

/** ... and the organization's slug, for commands that act in its name. */
export function withOrgDbOptions(command: Command): Command {
  return withOrgDatabaseOption(command.option('--org <slug>', 'organization slug (env TWINX_ORG)'));
}

/** Adds the key secret, for commands that sign tokens or make keys. */
function withKeySecretOption(command: Command): Command {
  return command.option('--key-secret <secret>', "secret encrypting the organization's private keys, 32+ characters (env TWINX_KEY_SECRET)");
}

/** The slug, the store and the key secret: for commands that sign tokens. */
export function withOrgStoreOptions(command: Command): Command {
  return withKeySecretOption(withOrgDbOptions(command));
}

/** `--cors-origins`, as every service takes it. */
export const CORS_ORIGINS = '--cors-origins <list>';
export const CORS_ORIGINS_HELP =
  'browser origins allowed to call it, comma-separated, e.g. https://dashboard.example.com (env TWINX_CORS_ORIGINS; default none: same origin only)';

/** `--expires-in`: the life of the token a command issues; required unless given a default (ms). */
export function expiresInSetting(fallback?: number) {
  return { flag: 'expires-in', env: 'TWINX_TOKEN_TTL', schema: fallback === undefined ? values.duration : values.duration.default(fallback) };
}

/** Who runs an administration command, as recorded in `issuedBy` and `revokedBy`. */
export function cliActor(): string {
  return `cli:${userInfo().username}`;
}

export function registerOrgCommands(program: Command): void {
  const org = program.command('org').description("run and administer an organization's subgraph");
  withOrgStoreOptions(org.command('serve'))
    .description("serve an organization's twins over GraphQL and ingest its devices' telemetry from NATS")
    .option('--nats-url <url>', 'NATS servers, comma-separated (env NATS_URL; default nats://127.0.0.1:4222)')
    .option('--subject-prefix <prefix>', 'NATS subject prefix of the network (env TWINX_SUBJECT_PREFIX)')
    .option('--nats-creds <file>', 'its NATS credentials, from `twinx network add` (env NATS_CREDS)')
    .option('--port <port>', 'HTTP port (env TWINX_PORT; default 4001)')
    .option('--host <host>', 'HTTP interface (env TWINX_HOST; default 127.0.0.1)')
    .option(CORS_ORIGINS, CORS_ORIGINS_HELP)
    .option('--metrics-listen <host:port>', 'where /metrics is served, apart from the public port (env TWINX_METRICS_LISTEN; default 127.0.0.1:9401)')
    .option('--max-ingest-batch <n>', 'readings accepted per batch (env TWINX_MAX_INGEST_BATCH; default 5000)')
    .option('--health-alarm-below <index>', 'health index under which a twin has a health alarm (env TWINX_HEALTH_ALARM_BELOW; default 0.3)')
    .option('--rul-horizon-hours <hours>', 'a twin has an RUL alarm while p10 of its remaining life is within this (env TWINX_RUL_HORIZON_HOURS; default 72)')
    .option('--analytics', 'analyse readings as they are stored: anomaly scores, alarms (env TWINX_ANALYTICS; default on)')
    .option('--no-analytics', 'store readings without analysing them')
    .option('--alarm-escalate-after <seconds>', 'seconds an alarm may stay unacknowledged before it escalates (env TWINX_ALARM_ESCALATE_AFTER; default 900)')
    .option('--migrate', 'apply pending database migrations before serving (env TWINX_MIGRATE)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: object) => {
      const config = loadConfig(orgSettings, flags, process.env);
      const { serveOrg } = await import('../subgraphs/org/main.ts');
      await serveOrg(config);
    });

  withOrgStoreOptions(org.command('init'))
    .description("set up an organization's store: apply migrations, create its first signing key, print a first admin token")
    .option('--expires-in <duration>', 'life of the admin token, e.g. 30d (default 90d)')
    .action(async (flags: object) => {
      const config = loadConfig({ ...orgStoreSettings, expiresIn: expiresInSetting(90 * 86_400_000) }, flags, process.env);
      const [{ migrateDeploy }, { initOrg }] = await Promise.all([import('../lib/db/migrate.ts'), import('../subgraphs/org/main.ts')]);
      await migrateDeploy({ kind: 'org', databaseUrl: config.databaseUrl });
      const admin = await initOrg(config, cliActor(), config.expiresIn);
      if (!admin) {
        console.log(`organization ${config.org} is already set up; issue tokens with \`twinx token issue\``);
        return;
      }
      console.log(`organization ${config.org} is set up; signing key ${admin.kid}`);
      console.log(`admin token (shown once, expires ${admin.expiresAt.toISOString()}):\n${admin.token}`);
    });
}
