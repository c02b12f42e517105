// `twinx db …`: a store's migrations, through the project's own runner (lib/db/migrate.ts),
// which keeps the database compatible with `prisma migrate deploy`.
import { relative } from 'node:path';
import { type Command, Option } from 'commander';
import { loadConfig, values } from '../lib/config.ts';
import type { StoreKind } from '../lib/db/migrate.ts';

/** The migration runner, loaded by the command that uses it. */
const migrations = () => import('../lib/db/migrate.ts');

const dbSettings = {
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', schema: values.storeLocation },
  shadowDatabaseUrl: { flag: 'shadow-database-url', env: 'SHADOW_DATABASE_URL', schema: values.postgresUrl.optional() },
};

interface DbFlags {
  store: StoreKind;
  databaseUrl?: string;
}

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description("migrate and inspect a store's database (same migrations and history table as prisma migrate)");

  withStoreOptions(db.command('migrate'))
    .description('apply the pending migrations (prisma migrate deploy)')
    .action(async (flags: DbFlags) => {
      const { applied } = await (await migrations()).migrateDeploy({ kind: flags.store, databaseUrl: databaseUrl(flags) });
      console.log(applied.length === 0 ? `${flags.store}: no pending migration` : applied.map((name) => `${flags.store}: applied ${name}`).join('\n'));
    });

  withStoreOptions(db.command('status'))
    .description('compare the database with the migrations folder; exit code 1 unless in sync')
    .action(async (flags: DbFlags) => {
      const { migrationStatus, storePaths } = await migrations();
      const status = await migrationStatus({ kind: flags.store, databaseUrl: databaseUrl(flags) });
      const lines = [
        ...status.pending.map((name) => `pending: ${name}`),
        ...status.failed.map((name) => `failed: ${name} (its changes were rolled back; see https://pris.ly/d/migrate-resolve)`),
        ...status.edited.map((name) => `edited after it was applied: ${name}`),
        ...status.unknownToFolder.map((name) => `applied but not in ${relative(process.cwd(), storePaths(flags.store).migrationsDir)}: ${name}`),
      ];
      console.log(status.inSync ? `${flags.store}: in sync` : lines.map((line) => `${flags.store}: ${line}`).join('\n'));
      if (!status.inSync) process.exitCode = 1;
    });

  withStoreOptions(db.command('drift'))
    .description('print the SQL that would make the database match schema.prisma; exit code 2 if there is any')
    .action(async (flags: DbFlags) => {
      const sql = await (await migrations()).schemaDrift({ kind: flags.store, databaseUrl: databaseUrl(flags) });
      if (sql === '') {
        console.log(`${flags.store}: no drift`);
      } else {
        process.stdout.write(sql);
        process.exitCode = 2;
      }
    });

  withStoreOptions(db.command('new'))
    .description('write a migration from the committed migrations to schema.prisma (prisma migrate dev --create-only)')
    .argument('<name>', 'what the migration does, e.g. add_twin_owner (letters, digits, _)')
    .option(
      '--shadow-database-url <url>',
      'an expendable database to replay the migrations on, its public schema is emptied (env SHADOW_DATABASE_URL; default: a temporary one)',
    )
    .action(async (name: string, flags: DbFlags & { shadowDatabaseUrl?: string }) => {
      if (!/^\w+$/.test(name)) throw new Error(`migration name "${name}": use letters, digits and _ only`);
      const { databaseUrl, shadowDatabaseUrl } = loadConfig(dbSettings, flags, process.env);
      const directory = await (
        await migrations()
      ).createMigration({ kind: flags.store, name, databaseUrl, ...(shadowDatabaseUrl ? { shadowDatabaseUrl } : {}) });
      console.log(
        directory === null
          ? `${flags.store}: schema.prisma matches the migrations, nothing to create`
          : `${flags.store}: created ${relative(process.cwd(), directory)}/migration.sql`,
      );
    });
}

function withStoreOptions(command: Command): Command {
  return command
    .addOption(new Option('--store <kind>', 'which store').choices(['org', 'directory']).default('org'))
    .option('--database-url <url>', "the store's PostgreSQL database (env DATABASE_URL)");
}

function databaseUrl(flags: DbFlags): string {
  return loadConfig({ databaseUrl: dbSettings.databaseUrl }, flags, process.env).databaseUrl;
}
