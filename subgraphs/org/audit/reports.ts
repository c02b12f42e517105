import type { JsMsg } from '@nats-io/jetstream';
import { z } from 'zod';
import { ACCESS_REPORT_LIMITS, accessReportSchema, type AccessReport } from '../../../lib/events.ts';
import type { Logger } from '../../../lib/logger.ts';
import { consumeDurable, DURABLES, natsNames, type Consuming, type NatsConnection } from '../../../lib/nats.ts';
import type { OrgDb } from '../db.ts';

/**
 * Records a gateway's access report in the audit log: one row per entry, standing for its
 * `count` accesses from `firstAt` to `lastAt`, with source `gateway:<gateway>`. The partner of
 * a refused entry is only what the refused token claimed. A report is recorded once, by gateway
 * and `reportId`, however often it is delivered.
 * @returns false when the report was recorded before.
 */
function recordAccessReport(db: OrgDb, report: AccessReport): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const { count } = await tx.receivedAccessReport.createMany({ data: [{ gateway: report.gateway, reportId: report.reportId }], skipDuplicates: true });
    if (count === 0) return false;
    await tx.auditEvent.createMany({
      data: report.entries.map(({ firstAt, lastAt, ...entry }) => ({
        ...entry,
        at: new Date(firstAt),
        lastAt: new Date(lastAt),
        source: `gateway:${report.gateway}`,
      })),
    });
    return true;
  });
}

/** Options of the access report consumer. */
export interface AccessReportsOptions {
  nats: NatsConnection;
  /** NATS subject prefix of the deployment. */
  subjectPrefix: string;
  /** The organization the reports on `<prefix>.audit.<org>` are for. */
  org: string;
  db: OrgDb;
  /** Called with the entries of each report recorded (once per report). */
  onRecorded?: (entries: AccessReport['entries']) => void;
  logger: Logger;
}

/**
 * Consumes gateways' access reports to the organization (what gateways delivered to partners'
 * subscriptions, and the tokens they refused) into the audit log. A report that is not what
 * it must be (malformed, too large, about another organization's twins) is logged, acknowledged
 * and dropped: it never blocks the stream nor reaches the log. Store failures are retried.
 */
export function startAccessReports(options: AccessReportsOptions): Consuming {
  const names = natsNames(options.subjectPrefix);
  const schema = accessReportSchema(options.org);
  const log = options.logger.child({ component: 'access-reports' });

  function parse(message: JsMsg): AccessReport | { refused: string } {
    if (message.data.length > ACCESS_REPORT_LIMITS.bytes) return { refused: `larger than ${ACCESS_REPORT_LIMITS.bytes} bytes` };
    let body: unknown;
    try {
      body = message.json();
    } catch {
      return { refused: 'not JSON' };
    }
    const parsed = schema.safeParse(body);
    return parsed.success ? parsed.data : { refused: z.prettifyError(parsed.error).slice(0, 1000) };
  }

  // A report id needs remembering only while the stream could deliver that report again.
  let forgetting: Promise<unknown> = Promise.resolve();
  const forget = () => {
    forgetting = options.db.receivedAccessReport
      .deleteMany({ where: { receivedAt: { lt: new Date(Date.now() - ACCESS_REPORT_LIMITS.keptDays * 86_400_000) } } })
      .catch((error: unknown) => log.warn({ err: error }, 'old report ids not forgotten, will retry'));
  };
  forget();
  const timer = setInterval(forget, 3_600_000);
  timer.unref();
  const consuming = consumeDurable({
    nats: options.nats,
    stream: names.accessReportStream(options.org),
    durable: DURABLES.accessReports,
    logger: log,
    handle: async (message) => {
      const report = parse(message);
      if ('refused' in report) return log.warn({ seq: message.seq, reason: report.refused }, 'access report refused');
      if (await recordAccessReport(options.db, report)) options.onRecorded?.(report.entries);
      else log.debug({ seq: message.seq, reportId: report.reportId }, 'access report already recorded');
    },
  });
  return {
    get consuming() {
      return consuming.consuming;
    },
    async stop() {
      clearInterval(timer);
      await consuming.stop();
      await forgetting;
    },
  };
}
