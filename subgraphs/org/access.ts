import { ErrorCode, fail, type TwinxError } from '../../lib/errors.ts';
import { globalTwinId } from '../../lib/ids.ts';
import { SCOPES, type Scope } from '../../lib/tokens/scopes.ts';
import { matchesSelector, selectorWhere, type TwinSelector } from '../../lib/tokens/selector.ts';
import type { Prisma } from '../../prisma/generated/org/client.ts';

/** The authenticated caller of one request. */
export interface Principal {
  /** A member of the organization, a partner organization holding grants, devices on NATS, or (for the SDL only) nobody. */
  kind: 'member' | 'partner' | 'device' | 'anonymous';
  /** The member's name or the partner's slug. */
  subject: string;
  /** Per scope: every twin, or the twins one of these selectors matches (grants add up). */
  scopes: ReadonlyMap<Scope, 'all' | readonly TwinSelector[]>;
  /** `jti` of every token presented, for the audit log. */
  tokenIds: readonly string[];
}

/** A principal holding the given scopes over every twin. */
export function unrestricted(kind: Principal['kind'], subject: string, scopes: readonly Scope[] = SCOPES): Principal {
  return { kind, subject, scopes: new Map(scopes.map((scope) => [scope, 'all'])), tokenIds: [] };
}

/** The fields of a twin that selectors look at; `id` is the local id. */
export interface TwinFacts {
  id: string;
  kind: string;
  tags: readonly string[];
}

/** One line of the audit log: what a partner did, or tried to do, in one request. */
export interface AuditEntry {
  partner: string;
  grantJtis: string[];
  /** `authenticate` for a request refused before reaching any twin. */
  action: 'read' | 'write' | 'authenticate';
  twinIds: string[];
  allowed: boolean;
  reason: string | null;
  /** False when `partner` and `grantJtis` are only what a refused token claimed. */
  claimsVerified: boolean;
}

function actionOf(scope: Scope): 'read' | 'write' {
  return scope.endsWith(':read') || scope === 'twins:subscribe' ? 'read' : 'write';
}

/**
 * The one authorization point of an organization subgraph, one per request. Every resolver
 * that reads or writes data asks it first: `require` for operations, `twinWhere` for the set
 * of twins a query may reach, `requireTwin` for one twin already loaded. It also keeps the
 * request's audit trail: what a partner read, wrote, or was refused.
 */
export class Access {
  private readonly reads = new Set<string>();
  private readonly writes = new Set<string>();
  private readonly denials = new Map<string, { action: 'read' | 'write'; reason: string; twinIds: Set<string> }>();

  constructor(
    readonly principal: Principal,
    private readonly org: string,
  ) {}

  /**
   * `FORBIDDEN` for using the scope (on these twins, local ids), to throw; the refusal is noted
   * in the audit trail. Also what a caller is told when a twin it may not see stands in the way
   * of a write, so that the twin does not show through.
   */
  refuse(scope: Scope, twinIds: string[]): TwinxError {
    this.denied(actionOf(scope), twinIds, ErrorCode.FORBIDDEN);
    return fail(
      ErrorCode.FORBIDDEN,
      `This operation needs the ${scope} scope${twinIds.length ? ` on ${twinIds.map((id) => globalTwinId(this.org, id)).join(', ')}` : ''}.`,
      { scope },
    );
  }

  /** Throws `FORBIDDEN` unless the caller holds the scope (on some twins at least). */
  require(scope: Scope): void {
    if (!this.principal.scopes.has(scope)) throw this.refuse(scope, []);
  }

  /** A Prisma filter selecting the twins the caller may reach with the scope. */
  twinWhere(scope: Scope): Prisma.TwinWhereInput {
    const reach = this.principal.scopes.get(scope);
    if (reach === undefined) throw this.refuse(scope, []);
    return reach === 'all' ? {} : { OR: reach.map((selector) => selectorWhere(selector, (id) => id.slice(this.org.length + 1))) };
  }

  /** Whether the caller may use the scope on this twin. */
  allows(scope: Scope, twin: TwinFacts): boolean {
    const reach = this.principal.scopes.get(scope);
    if (reach === undefined) return false;
    if (reach === 'all') return true;
    const facts = { id: globalTwinId(this.org, twin.id), kind: twin.kind, tags: twin.tags };
    return reach.some((selector) => matchesSelector(selector, facts));
  }

  /** Throws `FORBIDDEN` unless the caller may use the scope on this twin. */
  requireTwin(scope: Scope, twin: TwinFacts): void {
    if (!this.allows(scope, twin)) throw this.refuse(scope, [twin.id]);
  }

  /**
   * Throws `FORBIDDEN` when a change to a twin (its kind, its tags) changes what the caller's own
   * grants reach of it: a partner allowed to write presses, and to read what is tagged `shared`,
   * must not make a press readable by tagging it (nor move it out of its write grant).
   */
  requireSameReach(before: TwinFacts, after: TwinFacts): void {
    for (const scope of this.principal.scopes.keys()) {
      if (this.allows(scope, before) !== this.allows(scope, after)) throw this.refuse('twins:write', [after.id]);
    }
  }

  /** Notes twins read by this request (local ids). */
  read(twinIds: Iterable<string>): void {
    if (this.principal.kind !== 'partner') return;
    for (const id of twinIds) this.reads.add(id);
  }

  /** Notes twins changed by this request (local ids). */
  wrote(twinIds: Iterable<string>): void {
    if (this.principal.kind !== 'partner') return;
    for (const id of twinIds) this.writes.add(id);
  }

  /** Notes an access refused, or twins asked for that the caller may not see. */
  denied(action: 'read' | 'write', twinIds: Iterable<string>, reason: string): void {
    if (this.principal.kind !== 'partner') return;
    const key = `${action} ${reason}`;
    const entry = this.denials.get(key) ?? { action, reason, twinIds: new Set<string>() };
    for (const id of twinIds) entry.twinIds.add(id);
    this.denials.set(key, entry);
  }

  /** The request's audit trail. Only partners' accesses are audited. */
  auditEntries(): AuditEntry[] {
    if (this.principal.kind !== 'partner') return [];
    const base = { partner: this.principal.subject, grantJtis: [...this.principal.tokenIds], claimsVerified: true };
    const ids = (local: Iterable<string>) => [...local].map((id) => globalTwinId(this.org, id));
    const entries: AuditEntry[] = [];
    if (this.reads.size > 0) entries.push({ ...base, action: 'read', twinIds: ids(this.reads), allowed: true, reason: null });
    if (this.writes.size > 0) entries.push({ ...base, action: 'write', twinIds: ids(this.writes), allowed: true, reason: null });
    for (const denial of this.denials.values())
      entries.push({ ...base, action: denial.action, twinIds: ids(denial.twinIds), allowed: false, reason: denial.reason });
    return entries;
  }
}
