import { jetstream } from '@nats-io/jetstream';
import { randomUUID } from 'node:crypto';
import { ACCESS_REPORT_LIMITS, accessReportSchema, type AccessReport, type AccessReportEntry } from '../lib/events.ts';
import type { Logger } from '../lib/logger.ts';
import { natsNames, type NatsConnection } from '../lib/nats.ts';
import { Tally } from '../lib/tally.ts';
import type { PresentedToken } from '../lib/tokens/network.ts';
import { claimedGrant, claimedIssuer } from '../lib/tokens/tokens.ts';

export interface AccessReporterOptions {
  nats: NatsConnection;
  subjectPrefix: string;
  /** Names this gateway in the organizations' audit logs. */
  gateway: () => string;
  /** Only members are told (a token can claim any issuer). */
  isMember: (org: string) => boolean;
  logger: Logger;
  /** How long accesses are added up before they are reported, in ms. @default 5000 */
  flushMs?: number;
}

/** What one entry says, before it is added up. */
type Access = Omit<AccessReportEntry, 'count' | 'firstAt' | 'lastAt'>;

/**
 * Different deliveries added up per organization and window before they are folded per partner
 * and grants (`twinIds: []`: several twins); they are bounded by real subscriptions anyway.
 */
const MAX_DELIVERIES = 5000;
/**
 * Different refusals per organization and window before they are folded per reason under
 * partner `*`: anyone can present tokens claiming to be an organization's grants, each with
 * other claims (the organization's own audit log folds its refusals the same way).
 */
const MAX_REFUSALS = 100;
/** Bytes of a report left for the envelope (id, gateway name). */
const ENVELOPE_BYTES = 512;

/** An organization's window of accesses. */
class Window {
  readonly deliveries = new Tally<Access>(MAX_DELIVERIES, (access) => ({ ...access, twinIds: [] }));
  readonly refusals = new Tally<Access>(MAX_REFUSALS, (access) => ({ ...access, partner: '*', grantJtis: [] }));

  /** Its entries, emptied. */
  take(): AccessReportEntry[] {
    return [...this.deliveries.take(), ...this.refusals.take()].map(({ item, count, first, last }) => ({
      ...item,
      count,
      firstAt: first.toISOString(),
      lastAt: last.toISOString(),
    }));
  }
}

/**
 * What the gateway tells each organization of its partners' accesses that never reach the
 * organization itself (ARCHITECTURE.md, "Trust between members": the owner sees every partner
 * access): events delivered to partners' subscriptions, added up per partner, grants and twin
 * over a few seconds, and refused tokens claiming to be its grants. Published on the
 * organization's report subject (lib/events.ts `accessReportSchema`), which only gateways may use.
 */
export class AccessReporter {
  private windows = new Map<string, Window>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: AccessReporterOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.flushMs ?? 5000);
  }

  private windowOf(org: string): Window {
    let window = this.windows.get(org);
    if (!window) this.windows.set(org, (window = new Window()));
    return window;
  }

  /** An event about a twin of `org` sent to `subscribers` subscriptions resting on `tokens`. A member's own twins are not audited. */
  delivered(tokens: readonly PresentedToken[], event: { org: string; twinId: string }, subscribers: number): void {
    const grants = tokens.filter((token) => token.kind === 'grant' && token.org === event.org);
    const [first] = grants;
    if (first?.kind !== 'grant' || subscribers === 0) return;
    const access: Access = {
      partner: first.partner,
      grantJtis: grants.map((grant) => grant.jti),
      action: 'deliver',
      twinIds: [event.twinId],
      allowed: true,
      reason: null,
      claimsVerified: true,
    };
    this.windowOf(event.org).deliveries.add(access, subscribers);
  }

  /**
   * A token refused here, reported to the organization it claims to come from if it claims to be
   * a grant of a member: partner and jti as claimed, unless `verified` (a revoked grant).
   */
  refused(token: string, reason: string, verified = false): void {
    const org = claimedIssuer(token);
    const claims = org === null || !this.options.isMember(org) ? null : claimedGrant(token, org);
    if (org === null || claims === null) return;
    const access: Access = {
      partner: claims.partner,
      grantJtis: claims.jti === null ? [] : [claims.jti],
      action: 'authenticate',
      twinIds: [],
      allowed: false,
      reason,
      claimsVerified: verified,
    };
    this.windowOf(org).refusals.add(access);
  }

  /** Publishes what was added up so far: for each organization, reports within the size it accepts. */
  flush(): Promise<void> {
    const windows = this.windows;
    this.windows = new Map();
    this.flushing = this.flushing.then(async () => {
      for (const [org, window] of windows) for (const report of this.reports(window.take())) await this.publish(org, report);
    });
    return this.flushing;
  }

  /** Entries cut into reports of at most ACCESS_REPORT_LIMITS entries and bytes. */
  private *reports(entries: AccessReportEntry[]): Generator<AccessReport> {
    let batch: AccessReportEntry[] = [];
    let bytes = ENVELOPE_BYTES;
    for (const entry of entries) {
      const size = JSON.stringify(entry).length + 1;
      if (batch.length === ACCESS_REPORT_LIMITS.entries || bytes + size > ACCESS_REPORT_LIMITS.bytes) {
        yield { reportId: randomUUID(), gateway: this.options.gateway(), entries: batch };
        batch = [];
        bytes = ENVELOPE_BYTES;
      }
      batch.push(entry);
      bytes += size;
    }
    if (batch.length > 0) yield { reportId: randomUUID(), gateway: this.options.gateway(), entries: batch };
  }

  private async publish(org: string, report: AccessReport): Promise<void> {
    const checked = accessReportSchema(org).safeParse(report);
    if (!checked.success) {
      this.options.logger.error({ org, err: checked.error }, 'access report not made as organizations accept them: dropped');
      return;
    }
    try {
      await jetstream(this.options.nats).publish(natsNames(this.options.subjectPrefix).accessReportSubject(org), JSON.stringify(report), {
        msgID: report.reportId,
      });
    } catch (error) {
      // NATS down, or the organization's report stream not there yet: reported with the next window.
      this.options.logger.warn({ err: error, org, entries: report.entries.length }, 'access report not delivered, will retry');
      if (!this.options.isMember(org)) return;
      const window = this.windowOf(org);
      for (const { count, firstAt, lastAt, ...access } of report.entries) {
        (access.action === 'deliver' ? window.deliveries : window.refusals).add(access, count, new Date(firstAt), new Date(lastAt));
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
