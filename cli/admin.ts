// What `twinx grant`, `twinx token` and `twinx keys` do, two ways: through the organization's
// GraphQL API with an admin token (`--url`, `--token`), or straight on its database. Both answer
// with the same views, so each command prints the same whichever way it went.
import type { Command } from 'commander';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { loadConfig, values } from '../lib/config.ts';
import { fieldName } from '../lib/ids.ts';
import { orgDbSettings, orgStoreSettings } from '../subgraphs/org/config.ts';
import { withOrgDatabaseOption, withOrgDbOptions, withOrgStoreOptions } from './org.ts';
import { postGraphQL } from '../lib/graphql/client.ts';

export interface GrantView {
  jti: string;
  partner: string;
  scopes: string[];
  selector: { ids: string[]; idGlobs: string[]; kinds: string[]; tags: string[] };
  note: string | null;
  expiresAt: string;
  revokedAt: string | null;
}

export interface MemberTokenView {
  token: string;
  jti: string;
  subject: string;
  scopes: string[];
  expiresAt: string;
}

export interface KeyView {
  kid: string;
  createdAt: string;
  retiredAt: string | null;
  signing: boolean;
}

export interface GrantRequest {
  partner: string | undefined;
  scopes: string[] | undefined;
  selector: { ids?: string[]; idGlobs?: string[]; kinds?: string[]; tags?: string[] };
  expiresAt: Date;
  note: string | undefined;
}

export interface MemberTokenRequest {
  subject: string | undefined;
  role: string | undefined;
  scopes: string[] | undefined;
  expiresAt: Date;
}

/** An organization's administration, as the CLI uses it. */
export interface OrgAdmin {
  issueGrant(input: GrantRequest): Promise<{ token: string; grant: GrantView }>;
  /** Newest first; `active: null` for every grant. */
  listGrants(filter: { partner?: string; active: boolean | null }): Promise<GrantView[]>;
  revokeGrant(jti: string): Promise<void>;
  issueMemberToken(input: MemberTokenRequest): Promise<MemberTokenView>;
  revokeMemberToken(jti: string): Promise<void>;
  /** Returns the new key's id. */
  rotateKey(): Promise<string>;
  retireKey(kid: string): Promise<void>;
  listKeys(): Promise<KeyView[]>;
}

/**
 * What a command needs of the database when it runs there: `read` the store, `write` in the
 * organization's name, or `sign` (the key secret too).
 */
export type AdminNeed = 'read' | 'write' | 'sign';

const remoteSettings = {
  url: { flag: 'url', env: 'TWINX_URL', schema: values.httpUrl },
  token: { flag: 'token', env: 'TWINX_TOKEN', schema: z.string().min(1) },
};

/** Adds the options of both ways; those a command needs on the database depend on `need`. */
export function withAdminOptions(command: Command, need: AdminNeed): Command {
  command
    .option('--url <url>', "the organization's GraphQL endpoint, to administer it remotely with --token instead of on its database (env TWINX_URL)")
    .option('--token <token>', 'an admin member token of the organization, for --url (env TWINX_TOKEN)');
  return need === 'read' ? withOrgDatabaseOption(command) : need === 'write' ? withOrgDbOptions(command) : withOrgStoreOptions(command);
}

/** Runs `run` with the organization's administration: remote when `--url` or `TWINX_URL` is given, else on its database. */
export async function withAdmin<T>(flags: object, need: AdminNeed, run: (admin: OrgAdmin) => Promise<T>): Promise<T> {
  if ((flags as { url?: string }).url ?? process.env.TWINX_URL) return run(remoteAdmin(loadConfig(remoteSettings, flags, process.env)));
  const settings = need === 'sign' ? orgStoreSettings : need === 'write' ? orgDbSettings : { databaseUrl: orgDbSettings.databaseUrl };
  const config = loadConfig(settings, flags, process.env);
  const { withLocalAdmin } = await import('./admin-local.ts');
  return withLocalAdmin(config, run);
}

const GRANT_FIELDS = 'jti partner scopes selector { ids idGlobs kinds tags } note expiresAt revokedAt';

/** The administration through the organization's GraphQL API; the organization is the one that issued the token. */
function remoteAdmin(config: { url: string; token: string }): OrgAdmin {
  const issuer = /^twinx:org:(.+)$/.exec(String(safeClaims(config.token).iss))?.[1];
  if (!issuer) throw new TypeError('invalid configuration: --token / TWINX_TOKEN: expected a member token of an organization');
  const field = fieldName(issuer);
  const call = async <T>(operation: 'query' | 'mutation', selection: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const declared = Object.keys(variables).length === 0 ? '' : `(${Object.keys(variables).map((name) => `$${name}: ${VARIABLE_TYPES[name]}`)})`;
    const answer = await postGraphQL<Record<string, T>>(config.url, config.token, `${operation}${declared} { ${field} { ${selection} } }`, variables);
    if (answer.error) throw new Error(`${answer.error.code ?? 'ERROR'}: ${answer.error.message}`);
    if (!answer.data?.[field]) throw new Error(`${config.url} answered HTTP ${answer.status} without data`);
    return answer.data[field];
  };
  return {
    issueGrant: async (input) =>
      (
        await call<{ issueGrant: { token: string; grant: GrantView } }>('mutation', `issueGrant(input: $grant) { token grant { ${GRANT_FIELDS} } }`, {
          grant: input,
        })
      ).issueGrant,
    listGrants: async (filter) => {
      const grants: GrantView[] = [];
      let after: string | null = null;
      do {
        type Page = { grants: { edges: { node: GrantView }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
        const page: Page = await call<Page>(
          'query',
          `grants(filter: $filter, first: 500, after: $after) { edges { node { ${GRANT_FIELDS} } } pageInfo { hasNextPage endCursor } }`,
          {
            filter,
            after,
          },
        );
        grants.push(...page.grants.edges.map((edge) => edge.node));
        after = page.grants.pageInfo.hasNextPage ? page.grants.pageInfo.endCursor : null;
      } while (after !== null);
      return grants;
    },
    revokeGrant: async (jti) => void (await call('mutation', 'revokeGrant(jti: $jti) { jti }', { jti })),
    issueMemberToken: async (input) =>
      (
        await call<{ issueMemberToken: MemberTokenView }>('mutation', 'issueMemberToken(input: $member) { token jti subject scopes expiresAt }', {
          member: input,
        })
      ).issueMemberToken,
    revokeMemberToken: async (jti) => void (await call('mutation', 'revokeMemberToken(jti: $jti)', { jti })),
    rotateKey: async () => (await call<{ rotateSigningKey: { kid: string } }>('mutation', 'rotateSigningKey { kid }')).rotateSigningKey.kid,
    retireKey: async (kid) => void (await call('mutation', 'retireSigningKey(kid: $kid) { kid }', { kid })),
    listKeys: async () => (await call<{ signingKeys: KeyView[] }>('query', 'signingKeys { kid createdAt retiredAt signing }')).signingKeys,
  };
}

/** The GraphQL types of the variables the remote administration sends. */
const VARIABLE_TYPES: Record<string, string> = {
  grant: 'GrantInput!',
  member: 'MemberTokenInput!',
  filter: 'GrantFilter',
  after: 'String',
  jti: 'ID!',
  kid: 'ID!',
};

function safeClaims(token: string): Record<string, unknown> {
  try {
    return decodeJwt(token);
  } catch {
    return {};
  }
}
