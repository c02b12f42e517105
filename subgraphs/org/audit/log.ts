import type { Logger } from '../../../lib/logger.ts';
import type { Prisma } from '../../../prisma/generated/org/client.ts';
import type { AuditEntry } from '../access.ts';
import type { OrgDb } from '../db.ts';

export interface AuditLogOptions {
  db: OrgDb;
  logger: Logger;
}

/** Longest time an entry waits to be written, in ms. */
const FLUSH_INTERVAL_MS = 200;

/**
 * The audit log's writer. Entries are written in batches off the request path, so auditing
 * adds no round trip to a partner's request; `flush()` (called before the log is read and on
 * shutdown) writes what is pending.
 */
export class AuditLog {
  private pending: (AuditEntry & { operation: string | null; at: Date })[] = [];
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: AuditLogOptions) {
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  record(entries: AuditEntry[], operation: string | null): void {
    const at = new Date();
    for (const entry of entries) this.pending.push({ ...entry, operation, at });
  }

  /** Writes every entry recorded so far. */
  flush(): Promise<void> {
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
