import { jetstream } from '@nats-io/jetstream';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { randomUUID } from 'node:crypto';
import type { AccessReport, AccessReportEntry } from '../lib/events.ts';
import type { Logger } from '../lib/logger.ts';
import { natsNames, type NatsConnection } from '../lib/nats.ts';
import type { PresentedToken } from '../lib/tokens/network.ts';
import { claimedIssuer, TOKEN_TYPES } from '../lib/tokens/tokens.ts';

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

/** Different accesses one organization's report holds at most per window; beyond, they are counted in the log only. */
const MAX_ENTRIES = 5000;
/** Entries per report message (a report stays well below NATS's default 1 MiB payload). */
const ENTRIES_PER_REPORT = 500;
/** Longest claimed value (partner, jti) repeated from a token that did not verify. */
const MAX_CLAIM = 128;

/**
 * What the gateway tells each organization of its partners' accesses that never reach the
 * organization itself (ARCHITECTURE.md, "Trust between members": the owner sees every partner
 * access): events delivered to partners' subscriptions, added up per partner, grants and twin
 * over a few seconds, and tokens it issued that the gateway refused. Published on the
 * organization's report subject (lib/events.ts `AccessReport`), which only gateways may use.
 */
export class AccessReporter {
  private pending = new Map<string, Map<string, AccessReportEntry>>();
  private dropped = 0;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: AccessReporterOptions) {
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 5000);
    this.timer.unref();
  }

  /** Adds accesses to the window's entry of the same partner, grants, action, twins and reason. */
  private add(org: string, entry: AccessReportEntry): void {
    const entries = this.pending.get(org) ?? new Map<string, AccessReportEntry>();
    this.pending.set(org, entries);
    const { count, firstAt, lastAt, ...what } = entry;
    const key = JSON.stringify(what);
    const known = entries.get(key);
    if (known) {
      known.count += count;
      known.firstAt = firstAt < known.firstAt ? firstAt : known.firstAt;
      known.lastAt = lastAt > known.lastAt ? lastAt : known.lastAt;
    } else if (entries.size < MAX_ENTRIES) entries.set(key, { ...entry });
    else this.dropped += count;
  }

  private now(org: string, entry: Omit<AccessReportEntry, 'count' | 'firstAt' | 'lastAt'>, count: number): void {
    const at = new Date().toISOString();
    this.add(org, { ...entry, count, firstAt: at, lastAt: at });
  }

  /** An event about a twin of `org` sent to `subscribers` subscriptions resting on `tokens`. A member's own twins are not audited. */
  delivered(tokens: readonly PresentedToken[], event: { org: string; twinId: string }, subscribers: number): void {
    const grants = tokens.filter((token) => token.kind === 'grant' && token.org === event.org);
    const [first] = grants;
    if (first?.kind !== 'grant' || subscribers === 0) return;
    const grantJtis = grants.map((grant) => grant.jti);
    this.now(event.org, { partner: first.partner, grantJtis, action: 'deliver', twinIds: [event.twinId], allowed: true, reason: null }, subscribers);
  }

  /**
   * A token refused here, reported to the organization it claims to come from if it claims to
   * be a grant: partner and jti as claimed (unverified, so only repeated, and cut short).
   */
  refused(token: string, reason: string): void {
    const org = claimedIssuer(token);
    let claims: { sub?: unknown; jti?: unknown };
    try {
      if (org === null || !this.options.isMember(org) || decodeProtectedHeader(token).typ !== TOKEN_TYPES.grant) return;
      claims = decodeJwt(token);
    } catch {
      return;
    }
    const claimed = (value: unknown) => (typeof value === 'string' ? value.slice(0, MAX_CLAIM) : '?');
    this.now(org, { partner: claimed(claims.sub), grantJtis: [claimed(claims.jti)], action: 'authenticate', twinIds: [], allowed: false, reason }, 1);
  }

  /** Publishes what was added up so far, one report (or a few) per organization. */
  flush(): Promise<void> {
    const pending = this.pending;
    this.pending = new Map();
    if (this.dropped > 0) {
      this.options.logger.warn({ accesses: this.dropped }, 'too many different accesses in one window: some were not reported');
      this.dropped = 0;
    }
    this.flushing = this.flushing.then(async () => {
      const js = jetstream(this.options.nats);
      const names = natsNames(this.options.subjectPrefix);
      for (const [org, entries] of pending) {
        const all = [...entries.values()];
        for (let start = 0; start < all.length; start += ENTRIES_PER_REPORT) {
          const report: AccessReport = { reportId: randomUUID(), gateway: this.options.gateway(), entries: all.slice(start, start + ENTRIES_PER_REPORT) };
          try {
            await js.publish(names.accessReportSubject(org), JSON.stringify(report), { msgID: report.reportId });
          } catch (error) {
            // NATS down, or the organization's report stream not there yet: reported with the next window.
            this.options.logger.warn({ err: error, org, entries: report.entries.length }, 'access report not delivered, will retry');
            if (this.options.isMember(org)) for (const entry of report.entries) this.add(org, entry);
          }
        }
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
