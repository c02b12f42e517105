import type { Command } from 'commander';
import { loadConfig } from '../lib/config.ts';
import { orgSettings } from '../subgraphs/org/config.ts';
import { serveOrg } from '../subgraphs/org/main.ts';

export function registerOrgCommands(program: Command): void {
  const org = program.command('org').description("run and administer an organization's subgraph");
  org
    .command('serve')
    .description("serve an organization's twins over GraphQL and ingest its devices' telemetry from NATS")
    .option('--org <slug>', 'organization slug (env TWINX_ORG)')
    .option('--database-url <url>', "the organization's PostgreSQL database (env DATABASE_URL)")
    .option('--nats-url <url>', 'NATS servers, comma-separated (env NATS_URL; default nats://127.0.0.1:4222)')
    .option('--subject-prefix <prefix>', 'NATS subject prefix of the network (env TWINX_SUBJECT_PREFIX)')
    .option('--port <port>', 'HTTP port (env TWINX_PORT; default 4001)')
    .option('--host <host>', 'HTTP interface (env TWINX_HOST; default 127.0.0.1)')
    .option('--max-ingest-batch <n>', 'readings accepted per batch (env TWINX_MAX_INGEST_BATCH; default 5000)')
    .option('--migrate', 'apply pending database migrations before serving (env TWINX_MIGRATE)')
    .option('--log-level <level>', 'log level (env LOG_LEVEL; default info)')
    .action(async (flags: Record<string, unknown>) => serveOrg(loadConfig(orgSettings, flags, process.env)));
}
