import { ErrorCode, fail } from '../../lib/errors.ts';
import type { Prisma } from '../../prisma/generated/org/client.ts';

/** What a token may do at an organization (ARCHITECTURE.md, "Tokens"). */
export const SCOPES = ['twins:read', 'telemetry:read', 'twins:subscribe', 'twins:write', 'telemetry:write', 'grants:admin', 'audit:read'] as const;
export type Scope = (typeof SCOPES)[number];

/** The authenticated caller of one request. */
export interface Principal {
  /** Who is calling, for logs and audit. */
  subject: string;
  scopes: ReadonlySet<Scope>;
}

/**
 * The one authorization point of an organization subgraph. Every resolver that reads or
 * writes data asks it first: `require` for operations, `twinWhere` for the set of twins an
 * operation may reach. Data access code never builds its own notion of visibility.
 */
export class Access {
  constructor(readonly principal: Principal) {}

  /** Throws `FORBIDDEN` unless the caller holds the scope. */
  require(scope: Scope): void {
    if (!this.principal.scopes.has(scope)) {
      throw fail(ErrorCode.FORBIDDEN, `This operation needs the ${scope} scope.`, { scope });
    }
  }

  /** A Prisma filter selecting the twins the caller may reach with the scope. */
  twinWhere(scope: Scope): Prisma.TwinWhereInput {
    this.require(scope);
    return {};
  }
}
