import type { Logger } from '../../../lib/logger.ts';
import { Tally } from '../../../lib/tally.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';
import type { AuditEntry } from '../access.ts';
import type { OrgDb } from '../db.ts';

export interface AuditLogOptions {
  db: OrgDb;
  logger: Logger;
}

/** Longest time an entry waits to be written, in ms. */
const FLUSH_INTERVAL_MS = 200;
/** Longest time identical refused attempts are summed up into one row, in ms. */
const REFUSAL_WINDOW_MS = 5000;
/**
 * Refused attempts with different claims kept apart in one window. A flood beyond (anyone can
 * write tokens that claim to be grants, each with other claims) is summed up per reason under
 * partner `*`: rows grow with time, never with requests.
 */
const MAX_REFUSALS_PER_WINDOW = 100;

type AuditRow = AuditEntry & { operation: string | null; at: Date; count?: number; lastAt?: Date };

/**
 * The audit log's writer. Entries are written in batches off the request path, so auditing
 * adds no round trip to a partner's request; `flush()` (called before the log is read and on
 * shutdown) writes what is pending.
 */
export class AuditLog {
  private pending: AuditRow[] = [];
  /** The current window's refused attempts, added up; written when the window ends. */
  private readonly refusals = new Tally<AuditEntry>(MAX_REFUSALS_PER_WINDOW, (entry) => ({ ...entry, partner: '*', grantJtis: [] }));
  private windowEnds = Infinity;
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: AuditLogOptions) {
    this.timer = setInterval(() => void this.write(Date.now() >= this.windowEnds), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  record(entries: AuditEntry[], operation: string | null): void {
    const at = new Date();
    for (const entry of entries) this.pending.push({ ...entry, operation, at });
  }

  /** Records attempts refused before any twin was reached: identical ones over a window become one row with a count. */
  refused(entries: AuditEntry[]): void {
    for (const entry of entries) this.refusals.add(entry);
    if (this.refusals.size > 0) this.windowEnds = Math.min(this.windowEnds, Date.now() + REFUSAL_WINDOW_MS);
  }

  /** Writes every entry recorded so far. */
  flush(): Promise<void> {
    return this.write(true);
  }

  /** Writes the pending entries, and the refused attempts when their window ends. */
  private write(endWindow: boolean): Promise<void> {
    if (endWindow) {
      // A single attempt has a time, not a span.
      for (const { item, count, first, last } of this.refusals.take())
        this.pending.push({ ...item, operation: null, at: first, count, lastAt: count > 1 ? last : undefined });
      this.windowEnds = Infinity;
    }
    const batch = this.pending.splice(0);
    if (batch.length > 0) {
      this.writing = this.writing.then(() =>
        this.options.db.auditEvent.createMany({ data: batch }).then(
          () => undefined,
          // The entries go back to the queue: the next flush tries again.
          (error: unknown) => {
            this.options.logger.error({ err: error, entries: batch.length }, 'audit write failed, will retry');
            this.pending.unshift(...batch);
          },
        ),
      );
    }
    return this.writing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Filters of an audit query. */
export interface AuditFilter {
  partner?: string | null;
  twinId?: string | null;
  grantJti?: string | null;
  from?: Date | null;
  to?: Date | null;
  allowed?: boolean | null;
}

export function auditWhere(filter: AuditFilter | null | undefined): Prisma.AuditEventWhereInput {
  const where: Prisma.AuditEventWhereInput = {};
  if (filter?.partner) where.partner = filter.partner;
  if (filter?.twinId) where.twinIds = { has: filter.twinId };
  if (filter?.grantJti) where.grantJtis = { has: filter.grantJti };
  if (filter?.allowed != null) where.allowed = filter.allowed;
  if (filter?.from || filter?.to) where.at = { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) };
  return where;
}
