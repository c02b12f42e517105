import type { Command } from 'commander';
import { withAdmin, withAdminOptions } from './admin.ts';

export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description("an organization's signing keys");
  withAdminOptions(keys.command('rotate'), 'sign')
    .description('create a new signing key: it signs from now on, older keys keep verifying until retired')
    .action(async (flags: object) => console.log(`signing key ${await withAdmin(flags, 'sign', (admin) => admin.rotateKey())}`));
  withAdminOptions(keys.command('retire'), 'write')
    .description('retire a key: tokens it signed stop verifying at once, here and across the network')
    .argument('<kid>', 'the key id')
    // A key id is a base64url thumbprint: one in 64 starts with "-", and is still the argument.
    .allowUnknownOption()
    .action(async (kid: string, flags: object) => {
      await withAdmin(flags, 'write', (admin) => admin.retireKey(kid));
      console.log(`retired ${kid}`);
    });
  withAdminOptions(keys.command('list'), 'read')
    .description('list the keys, newest first')
    .action(async (flags: object) => {
      for (const key of await withAdmin(flags, 'read', (admin) => admin.listKeys())) {
        const state = key.signing ? 'signing' : key.retiredAt ? `retired ${key.retiredAt}` : 'verifying';
        console.log(`${key.kid}  created ${key.createdAt}  ${state}`);
      }
    });
}
