import type { Command } from 'commander';
import { loadConfig } from '../lib/config.ts';
import { createSigningKey, listKeys, retireKey } from '../subgraphs/org/auth/keys.ts';
import { orgDbSettings, orgStoreSettings } from '../subgraphs/org/config.ts';
import { withOrgDb } from '../subgraphs/org/main.ts';
import { withKeySecretOption, withOrgDatabaseOption, withOrgDbOptions } from './org.ts';

const { databaseUrl, keySecret } = orgStoreSettings;

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description("an organization's signing keys");
  withKeySecretOption(withOrgDatabaseOption(keys.command('rotate')))
    .description('create a new signing key: it signs from now on, older keys keep verifying until retired')
    .action(async (flags: object) => {
      const config = loadConfig({ databaseUrl, keySecret }, flags, process.env);
      await withOrgDb(config, async (db) => console.log(`signing key ${await createSigningKey(db, config.keySecret)}`));
    });
  withOrgDbOptions(keys.command('retire'))
    .description('retire a key: tokens it signed stop verifying at once, here and across the network')
    .argument('<kid>', 'the key id')
    .action(async (kid: string, flags: object) => {
      const config = loadConfig(orgDbSettings, flags, process.env);
      await withOrgDb(config, async (db) => {
        const signing = (await listKeys(db)).find((key) => key.signing);
        if (signing?.kid === kid) throw new Error(`${kid} is the signing key: rotate first`);
        if (!(await retireKey(db, config.org, kid))) throw new Error(`no active key ${kid}`);
        console.log(`retired ${kid}`);
      });
    });
  withOrgDatabaseOption(keys.command('list'))
    .description('list the keys, newest first')
    .action(async (flags: object) => {
      await withOrgDb(loadConfig({ databaseUrl }, flags, process.env), async (db) => {
        for (const key of await listKeys(db)) {
          const state = key.signing ? 'signing' : key.retiredAt ? `retired ${key.retiredAt.toISOString()}` : 'verifying';
          console.log(`${key.kid}  created ${key.createdAt.toISOString()}  ${state}`);
        }
      });
    });
}
