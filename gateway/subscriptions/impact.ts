/**
 * Early warning across companies (ARCHITECTURE.md, "Impact across the supply network"): when an
 * organization announces a disruption of one of its twins, the gateway computes its impact
 * downstream with each subscriber's own tokens, so that a customer hears of it only where the
 * suppliers' grants let its tokens follow the chain, and delivers it as an IMPACT event to the
 * subscriptions whose twins it hits.
 */
import type { DisruptionView, TwinDisruptionEvent } from '../../lib/events.ts';
import type { ImpactAnswer, ImpactQuestion } from '../../lib/impact/types.ts';
import type { Logger } from '../../lib/logger.ts';
import type { PresentedToken } from '../../lib/tokens/network.ts';
import { canReach, type Reach } from '../../lib/tokens/reach.ts';
import type { FeedEvent } from './hub.ts';

/** How far a disruption's impact is followed: 30 days, 12 hops. */
export const WARNING_HORIZON_HOURS = 720;
export const WARNING_MAX_HOPS = 12;

/** Computes an impact with a caller's tokens (the gateway's `ImpactOrchestrator.run`). */
export type ImpactRun = (question: ImpactQuestion, tokens: PresentedToken[]) => Promise<ImpactAnswer>;

/** A disruption as the hub hands it out. */
export type DisruptionItem = FeedEvent & { event: TwinDisruptionEvent };

/**
 * The question a disruption asks: its twin keeps `capacity` over its window, as of when it was
 * opened, so that its CLEARED announcement takes back the impact as it was when OPEN.
 */
export function disruptionQuestion(twinId: string, disruption: DisruptionView): ImpactQuestion {
  return {
    disruptions: [{ twinId, from: Date.parse(disruption.from), to: Date.parse(disruption.to), capacity: disruption.capacity, predicted: false }],
    modifications: { alternates: [], extraStock: [], leadTimes: [] },
    horizonHours: WARNING_HORIZON_HOURS,
    maxHops: WARNING_MAX_HOPS,
    now: Date.parse(disruption.openedAt),
  };
}

/** The twins a subscription selects (its filter's `twinIds`, `orgs`, `kinds`; each absent or empty selects all). */
export interface TwinFilter {
  twinIds?: readonly string[] | null;
  orgs?: readonly string[] | null;
  kinds?: readonly string[] | null;
}

const selects = (values: readonly string[] | null | undefined, value: string) => !values?.length || values.includes(value);

/**
 * Whether an impact hits a twin the subscription selects and may subscribe to: one the answer
 * names as affected (the disrupted twin among them when the subscriber's tokens reach it). The
 * answer does not carry the kind and tags of the twins downstream: filters and grant selectors on
 * kinds or tags select the disrupted twin only, whose event says them.
 */
export function hitsSubscription(filter: TwinFilter | null | undefined, subscribe: Reach, event: TwinDisruptionEvent, answer: ImpactAnswer): boolean {
  return answer.affected.some(({ twinId, org }) => {
    const twin = twinId === event.twinId ? { id: twinId, org, kind: event.kind, tags: event.tags } : { id: twinId, org, kind: '', tags: [] };
    return canReach(subscribe, twin) && selects(filter?.twinIds, twin.id) && selects(filter?.orgs, twin.org) && selects(filter?.kinds, twin.kind);
  });
}

export interface ImpactWarningsOptions {
  run: ImpactRun;
  logger: Logger;
  /**
   * Impacts computed at once; more wait their turn, so that a burst of disruptions never floods
   * the organizations with questions.
   * @default 4
   */
  concurrency?: number;
}

/**
 * The impacts of disruptions, each computed once per event and token set however many
 * subscriptions ask for it meanwhile, a bounded number at once.
 */
export class ImpactWarnings {
  private readonly computing = new Map<string, Promise<ImpactAnswer | null>>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly concurrency: number;

  constructor(private readonly options: ImpactWarningsOptions) {
    this.concurrency = options.concurrency ?? 4;
    if (!(Number.isInteger(this.concurrency) && this.concurrency > 0)) throw new TypeError('concurrency must be a positive integer');
  }

  /** The impact of a disruption as far as `tokens` reach; null when it could not be computed (logged). */
  answerFor(item: DisruptionItem, tokens: PresentedToken[]): Promise<ImpactAnswer | null> {
    const key = `${item.seq}\u0000${tokens.map((token) => token.token).join(',')}`;
    let answer = this.computing.get(key);
    if (!answer) {
      const { twinId, disruption } = item.event;
      answer = this.queued(() => this.options.run(disruptionQuestion(twinId, disruption), tokens)).catch((error: unknown) => {
        this.options.logger.error({ err: error, twinId, disruption: disruption.id }, 'impact of a disruption not computed; no warning sent for it');
        return null;
      });
      this.computing.set(key, answer);
      // Shared while it runs: the subscriptions it is for all ask as the event is handed out.
      void answer.then(() => this.computing.delete(key));
    }
    return answer;
  }

  private async queued<T>(run: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await run();
    } finally {
      // The turn passes on to the next waiting, if any, without being given back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
