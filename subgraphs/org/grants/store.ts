import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, fail } from '../../../lib/errors.ts';
import { isValidSlug } from '../../../lib/ids.ts';
import { parseInput } from '../../../lib/validation.ts';
import { GRANTABLE_SCOPES, ROLES, SCOPES, type Scope } from '../../../lib/tokens/scopes.ts';
import { selectorSchema, type TwinSelector } from '../../../lib/tokens/selector.ts';
import { MAX_TOKEN_LIFETIME_MS, signToken } from '../../../lib/tokens/tokens.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';
import type { KeyRing } from '../auth/keys.ts';
import type { OrgDb } from '../db.ts';

/** What issuing a token needs: the store, the keys, and who the organization is. */
export interface Issuer {
  db: OrgDb;
  keys: KeyRing;
  org: string;
}

const expiry = z
  .date()
  .refine((date) => date.getTime() > Date.now(), 'must be in the future')
  .refine((date) => date.getTime() <= Date.now() + MAX_TOKEN_LIFETIME_MS, 'must be within 366 days');

function scopeSet<T extends readonly Scope[]>(allowed: T) {
  return z
    .array(z.enum(allowed as unknown as [Scope, ...Scope[]]))
    .min(1)
    .transform((scopes) => [...new Set(scopes)]);
}

export type TokenRow = Prisma.TokenGetPayload<object>;

async function issue(issuer: Issuer, row: Omit<Prisma.TokenCreateInput, 'jti'>, selector?: TwinSelector): Promise<{ token: string; row: TokenRow }> {
  const jti = randomUUID();
  const key = await issuer.keys.signingKey();
  const kind = row.kind === 'GRANT' ? 'grant' : 'member';
  const token = await signToken(
    { kind, org: issuer.org, jti, subject: row.subject, scopes: row.scopes as Scope[], selector, expiresAt: row.expiresAt as Date },
    key,
  );
  // Recorded before it is handed out, so that it can be listed and revoked.
  return { token, row: await issuer.db.token.create({ data: { ...row, jti } }) };
}

/** Issues a grant to a partner organization: scopes over the twins a selector picks, until it expires. */
export async function issueGrant(issuer: Issuer, issuedBy: string, input: unknown) {
  const data = parseInput(
    z.object({
      partner: z.string().refine((slug) => isValidSlug(slug) && slug !== issuer.org, 'expected the slug of another organization'),
      scopes: scopeSet(GRANTABLE_SCOPES),
      selector: selectorSchema(issuer.org),
      expiresAt: expiry,
      note: z.string().max(500).nullish(),
    }),
    input,
    'input',
  );
  const { token, row } = await issue(
    issuer,
    { kind: 'GRANT', subject: data.partner, scopes: data.scopes, selector: data.selector, note: data.note ?? null, issuedBy, expiresAt: data.expiresAt },
    data.selector,
  );
  return { token, grant: row };
}

/** Issues a token to one of the organization's own people or services, by role or scopes. */
export async function issueMemberToken(issuer: Issuer, issuedBy: string, input: unknown) {
  const data = parseInput(
    z
      .object({
        subject: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$/, 'expected a name such as alice or svc:dashboard'),
        role: z.enum(Object.keys(ROLES) as [keyof typeof ROLES]).nullish(),
        scopes: scopeSet(SCOPES).nullish(),
        expiresAt: expiry,
      })
      .refine((d) => (d.role == null) !== (d.scopes == null), 'give either a role or scopes'),
    input,
    'input',
  );
  const scopes = data.role ? [...ROLES[data.role]] : data.scopes!;
  const { token, row } = await issue(issuer, { kind: 'MEMBER', subject: data.subject, role: data.role ?? null, scopes, issuedBy, expiresAt: data.expiresAt });
  return { token, jti: row.jti, subject: row.subject, scopes: row.scopes, expiresAt: row.expiresAt };
}

/** Tokens of one kind, of one subject (a partner, a member), active (neither revoked nor expired) or not. */
export function tokenWhere(kind: 'GRANT' | 'MEMBER', filter: { subject?: string | null; active?: boolean | null } | null | undefined): Prisma.TokenWhereInput {
  const where: Prisma.TokenWhereInput = { kind };
  if (filter?.subject) where.subject = filter.subject;
  if (filter?.active === true) Object.assign(where, { revokedAt: null, expiresAt: { gt: new Date() } });
  if (filter?.active === false) where.OR = [{ revokedAt: { not: null } }, { expiresAt: { lte: new Date() } }];
  return where;
}

export function grantWhere(filter: { partner?: string | null; active?: boolean | null } | null | undefined): Prisma.TokenWhereInput {
  return tokenWhere('GRANT', { subject: filter?.partner, active: filter?.active });
}

export async function getGrant(db: OrgDb, jti: string): Promise<TokenRow> {
  const grant = await db.token.findFirst({ where: { jti, kind: 'GRANT' } });
  if (!grant) throw fail(ErrorCode.NOT_FOUND, `No grant ${jti}.`, { jti });
  return grant;
}
