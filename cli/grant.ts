import type { Command } from 'commander';
import { loadConfig } from '../lib/config.ts';
import { revokeToken } from '../subgraphs/org/auth/authenticator.ts';
import { orgDbSettings, orgStoreSettings } from '../subgraphs/org/config.ts';
import { grantWhere, issueGrant, issueMemberToken } from '../subgraphs/org/grants/store.ts';
import { withOrgDb, withOrgStore } from '../subgraphs/org/main.ts';
import { cliActor, expiresInSetting, withOrgDatabaseOption, withOrgDbOptions, withOrgStoreOptions } from './org.ts';

const list = (value: string | undefined) =>
  value
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : undefined;
const issueSettings = { ...orgStoreSettings, expiresIn: expiresInSetting() };

function revokeCommand(parent: Command, kind: 'GRANT' | 'MEMBER', description: string, argument: string): void {
  withOrgDbOptions(parent.command('revoke'))
    .description(description)
    .argument('<jti>', argument)
    .action(async (jti: string, flags: object) => {
      const config = loadConfig(orgDbSettings, flags, process.env);
      await withOrgDb(config, async (db) => {
        await revokeToken(db, config.org, jti, kind, cliActor());
        console.log(`revoked ${jti}`);
      });
    });
}

export function registerGrantCommands(program: Command): void {
  const grant = program.command('grant').description('access to twins given to partner organizations');
  withOrgStoreOptions(grant.command('issue'))
    .description('issue a grant token to a partner (printed once)')
    .requiredOption('--partner <slug>', 'the partner organization')
    .requiredOption('--scopes <list>', 'comma-separated: twins:read, telemetry:read, twins:subscribe, twins:write, telemetry:write')
    .option('--ids <list>', 'twin ids, e.g. acme:press-1,acme:press-2')
    .option('--globs <list>', 'id patterns, e.g. acme:press-*')
    .option('--kinds <list>', 'twin kinds, e.g. press,furnace')
    .option('--tags <list>', 'twin tags')
    .requiredOption('--expires-in <duration>', 'e.g. 30d')
    .option('--note <text>', 'why the grant exists')
    .action(async (flags: Record<string, string | undefined>) => {
      const config = loadConfig(issueSettings, flags, process.env);
      await withOrgStore(config, async (store) => {
        const { token, grant: issued } = await issueGrant(store, cliActor(), {
          partner: flags.partner,
          scopes: list(flags.scopes),
          selector: { ids: list(flags.ids), idGlobs: list(flags.globs), kinds: list(flags.kinds), tags: list(flags.tags) },
          expiresAt: new Date(Date.now() + config.expiresIn),
          note: flags.note,
        });
        console.log(`grant ${issued.jti} for ${issued.subject}: ${issued.scopes.join(' ')}, expires ${issued.expiresAt.toISOString()}`);
        console.log(`token (shown once):\n${token}`);
      });
    });
  withOrgDatabaseOption(grant.command('list'))
    .description('list grants, newest first')
    .option('--partner <slug>', 'only this partner')
    .option('--all', 'include revoked and expired grants')
    .action(async (flags: { partner?: string; all?: boolean }) => {
      await withOrgDb(loadConfig({ databaseUrl: orgDbSettings.databaseUrl }, flags, process.env), async (db) => {
        const grants = await db.token.findMany({
          where: grantWhere({ partner: flags.partner, active: flags.all ? null : true }),
          orderBy: { issuedAt: 'desc' },
        });
        for (const g of grants) {
          const state = g.revokedAt ? `revoked ${g.revokedAt.toISOString()}` : g.expiresAt <= new Date() ? 'expired' : `expires ${g.expiresAt.toISOString()}`;
          console.log(`${g.jti}  ${g.subject}  ${g.scopes.join(' ')}  ${JSON.stringify(g.selector)}  ${state}${g.note ? `  "${g.note}"` : ''}`);
        }
      });
    });
  revokeCommand(grant, 'GRANT', 'revoke a grant: it stops working at once', 'the grant id');

  const token = program.command('token').description("tokens for the organization's own people and services");
  withOrgStoreOptions(token.command('issue'))
    .description('issue a member token (printed once)')
    .requiredOption('--subject <name>', 'who it is for, e.g. alice or svc:dashboard')
    .option('--role <role>', 'admin, operator or viewer')
    .option('--scopes <list>', 'explicit scopes instead of a role')
    .requiredOption('--expires-in <duration>', 'e.g. 90d')
    .action(async (flags: Record<string, string | undefined>) => {
      const config = loadConfig(issueSettings, flags, process.env);
      await withOrgStore(config, async (store) => {
        const issued = await issueMemberToken(store, cliActor(), {
          subject: flags.subject,
          role: flags.role,
          scopes: list(flags.scopes),
          expiresAt: new Date(Date.now() + config.expiresIn),
        });
        console.log(`member token ${issued.jti} for ${issued.subject}: ${issued.scopes.join(' ')}, expires ${issued.expiresAt.toISOString()}`);
        console.log(`token (shown once):\n${issued.token}`);
      });
    });
  revokeCommand(token, 'MEMBER', 'revoke a member token', 'the token id');
}
