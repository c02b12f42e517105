import type { Command } from 'commander';
import { loadConfig } from '../lib/config.ts';
import { GRANTABLE_SCOPES } from '../lib/tokens/scopes.ts';
import { withAdmin, withAdminOptions } from './admin.ts';
import { expiresInSetting } from './org.ts';

const list = (value: string | undefined) =>
  value
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : undefined;
const expiresAt = (flags: object) => new Date(Date.now() + loadConfig({ expiresIn: expiresInSetting() }, flags, process.env).expiresIn);

function revokeCommand(parent: Command, revoke: 'revokeGrant' | 'revokeMemberToken', description: string, argument: string): void {
  withAdminOptions(parent.command('revoke'), 'write')
    .description(description)
    .argument('<jti>', argument)
    .action(async (jti: string, flags: object) => {
      await withAdmin(flags, 'write', (admin) => admin[revoke](jti));
      console.log(`revoked ${jti}`);
    });
}

export function registerGrantCommands(program: Command): void {
  const grant = program.command('grant').description('access to twins given to partner organizations');
  withAdminOptions(grant.command('issue'), 'sign')
    .description('issue a grant token to a partner (printed once)')
    .requiredOption('--partner <slug>', 'the partner organization')
    .requiredOption('--scopes <list>', `comma-separated: ${GRANTABLE_SCOPES.join(', ')}`)
    .option('--ids <list>', 'twin ids, e.g. acme:press-1,acme:press-2')
    .option('--globs <list>', 'id patterns, e.g. acme:press-*')
    .option('--kinds <list>', 'twin kinds, e.g. press,furnace')
    .option('--tags <list>', 'twin tags')
    .requiredOption('--expires-in <duration>', 'e.g. 30d')
    .option('--note <text>', 'why the grant exists')
    .action(async (flags: Record<string, string | undefined>) => {
      const input = {
        partner: flags.partner,
        scopes: list(flags.scopes),
        selector: { ids: list(flags.ids), idGlobs: list(flags.globs), kinds: list(flags.kinds), tags: list(flags.tags) },
        expiresAt: expiresAt(flags),
        note: flags.note,
      };
      const { token, grant: issued } = await withAdmin(flags, 'sign', (admin) => admin.issueGrant(input));
      console.log(`grant ${issued.jti} for ${issued.partner}: ${issued.scopes.join(' ')}, expires ${issued.expiresAt}`);
      console.log(`token (shown once):\n${token}`);
    });
  withAdminOptions(grant.command('list'), 'read')
    .description('list grants, newest first')
    .option('--partner <slug>', 'only this partner')
    .option('--all', 'include revoked and expired grants')
    .action(async (flags: { partner?: string; all?: boolean }) => {
      const grants = await withAdmin(flags, 'read', (admin) => admin.listGrants({ partner: flags.partner, active: flags.all ? null : true }));
      const now = new Date().toISOString();
      for (const g of grants) {
        const state = g.revokedAt ? `revoked ${g.revokedAt}` : g.expiresAt <= now ? 'expired' : `expires ${g.expiresAt}`;
        console.log(`${g.jti}  ${g.partner}  ${g.scopes.join(' ')}  ${JSON.stringify(g.selector)}  ${state}${g.note ? `  "${g.note}"` : ''}`);
      }
    });
  revokeCommand(grant, 'revokeGrant', 'revoke a grant: it stops working at once', 'the grant id');

  const token = program.command('token').description("tokens for the organization's own people and services");
  withAdminOptions(token.command('issue'), 'sign')
    .description('issue a member token (printed once)')
    .requiredOption('--subject <name>', 'who it is for, e.g. alice or svc:dashboard')
    .option('--role <role>', 'admin, operator or viewer')
    .option('--scopes <list>', 'explicit scopes instead of a role')
    .requiredOption('--expires-in <duration>', 'e.g. 90d')
    .action(async (flags: Record<string, string | undefined>) => {
      const input = { subject: flags.subject, role: flags.role, scopes: list(flags.scopes), expiresAt: expiresAt(flags) };
      const issued = await withAdmin(flags, 'sign', (admin) => admin.issueMemberToken(input));
      console.log(`member token ${issued.jti} for ${issued.subject}: ${issued.scopes.join(' ')}, expires ${issued.expiresAt}`);
      console.log(`token (shown once):\n${issued.token}`);
    });
  revokeCommand(token, 'revokeMemberToken', 'revoke a member token', 'the token id');
}
