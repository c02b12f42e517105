// The administration straight on an organization's database (see admin.ts). Imported only by the
// commands that use it: it loads the database drivers and the organization's code.
import { revokeToken } from '../subgraphs/org/auth/authenticator.ts';
import { listKeys, retireVerifyingKey, withOrgStore, type KeyRing, type PublicKeyInfo } from '../subgraphs/org/auth/keys.ts';
import { grantWhere, issueGrant, issueMemberToken, type TokenRow } from '../subgraphs/org/grants/store.ts';
import { withOrgDb, type OrgDb } from '../subgraphs/org/db.ts';
import type { GrantView, KeyView, OrgAdmin } from './admin.ts';
import { cliActor } from './org.ts';

/** What a command gave: the store, and the slug and key secret when it acts in the organization's name. */
type LocalConfig = { databaseUrl: string; org?: string; keySecret?: string };

const iso = (date: Date | null) => date?.toISOString() ?? null;

function grantView(row: TokenRow): GrantView {
  // In the order GraphQL answers with: the store keeps it as jsonb, which orders keys its own way.
  const { ids, idGlobs, kinds, tags } = row.selector as GrantView['selector'];
  return { ...row, partner: row.subject, selector: { ids, idGlobs, kinds, tags }, expiresAt: row.expiresAt.toISOString(), revokedAt: iso(row.revokedAt) };
}

function keyView(key: PublicKeyInfo): KeyView {
  return { ...key, createdAt: key.createdAt.toISOString(), retiredAt: iso(key.retiredAt) };
}

/** Runs `run` on the organization's database, then closes it; with a key secret, checks it first. */
export function withLocalAdmin<T>(config: LocalConfig, run: (admin: OrgAdmin) => Promise<T>): Promise<T> {
  const org = config.org ?? '';
  if (config.keySecret === undefined) return withOrgDb(config, (db) => run(localAdmin({ db, keys: null, org })));
  return withOrgStore({ ...config, org, keySecret: config.keySecret }, (store) => run(localAdmin(store)));
}

function localAdmin({ db, keys, org }: { db: OrgDb; keys: KeyRing | null; org: string }): OrgAdmin {
  const issuer = () => ({ db, keys: keys!, org });
  return {
    issueGrant: async (input) => {
      const { token, grant } = await issueGrant(issuer(), cliActor(), input);
      return { token, grant: grantView(grant) };
    },
    listGrants: async (filter) => (await db.token.findMany({ where: grantWhere(filter), orderBy: [{ issuedAt: 'desc' }, { jti: 'desc' }] })).map(grantView),
    revokeGrant: async (jti) => void (await revokeToken(db, org, jti, 'GRANT', cliActor())),
    issueMemberToken: async (input) => {
      const issued = await issueMemberToken(issuer(), cliActor(), input);
      return { ...issued, expiresAt: issued.expiresAt.toISOString() };
    },
    revokeMemberToken: async (jti) => void (await revokeToken(db, org, jti, 'MEMBER', cliActor())),
    rotateKey: () => keys!.rotate(),
    retireKey: async (kid) => void (await retireVerifyingKey(db, org, kid)),
    listKeys: async () => (await listKeys(db)).map(keyView),
  };
}
