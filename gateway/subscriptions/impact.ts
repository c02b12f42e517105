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
 * opened, so that OPEN and CLEARED ask of the same window (the answers read the supply data and
 * grants as they are when asked).
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

/** What selectors and filters look at in a twin besides its id. */
export interface TwinFacts {
  kind: string;
  tags: string[];
}

/** Most twins hit downstream whose kind and tags are read for one IMPACT event (the first hit first). */
export const MAX_DESCRIBED = 100;

/** Whether a subscription selects twins by kind or tag: in its filter, or in a grant its tokens rest on. */
function selectsByFacts(filter: TwinFilter | null | undefined, subscribe: Reach): boolean {
  return (
    Boolean(filter?.kinds?.length) ||
    [...subscribe.values()].some((selectors) => selectors !== 'all' && selectors.some((s) => s.kinds.length + s.tags.length > 0))
  );
}

/**
 * Whether an impact hits a twin the subscription selects and may subscribe to: one the answer
 * names as affected (the disrupted twin among them when the subscriber's tokens reach it). The
 * disrupted twin's kind and tags are its event's; those of the twins downstream are `facts`. A
 * twin not described there (beyond the first `MAX_DESCRIBED`, or one the tokens may not read)
 * has no kind and no tags: a filter by kind, or a grant selecting by kind or tag, never selects it.
 */
export function hitsSubscription(
  filter: TwinFilter | null | undefined,
  subscribe: Reach,
  event: TwinDisruptionEvent,
  answer: ImpactAnswer,
  facts: ReadonlyMap<string, TwinFacts>,
): boolean {
  return answer.affected.some(({ twinId, org }) => {
    const { kind, tags } = twinId === event.twinId ? event : (facts.get(twinId) ?? { kind: '', tags: [] });
    const twin = { id: twinId, org, kind, tags };
    return canReach(subscribe, twin) && selects(filter?.twinIds, twin.id) && selects(filter?.orgs, twin.org) && selects(filter?.kinds, twin.kind);
  });
}

export interface ImpactWarningsOptions {
  run: ImpactRun;
  /** Runs an operation through the network graph with the caller's tokens: the kinds and tags of the twins hit. */
  execute: (query: string, variables: Record<string, unknown>, tokens: PresentedToken[]) => Promise<{ data?: Record<string, unknown> | null }>;
  logger: Logger;
  /**
   * Impacts computed at once; more wait their turn, so that a burst of disruptions never floods
   * the organizations with questions. The disruptions of one organization take at most half of
   * them (at least one), so that one announcing without end and answering slowly never holds all.
   * @default 4
   */
  concurrency?: number;
  /**
   * Impacts of one organization's disruptions waiting their turn at most (each organization has
   * its own waiting list, served in turn with the others'); one more is not computed (its warning
   * is not sent, and logged), so that a member announcing disruptions without end holds neither
   * memory nor the other members' warnings.
   * @default 1000
   */
  maxWaiting?: number;
  /**
   * Time an impact has to be computed, waiting included, in ms; past it no warning is sent for
   * it (logged), so that a subscriber's other events never wait longer behind it.
   * @default 10000
   */
  deadlineMs?: number;
}

/** An impact that is no warning: nothing hit as far as the tokens reach (or it could not be computed). */
const NO_IMPACT: ImpactAnswer = { disruptions: [], affected: [], unknown: [], hops: 0 };

/** Turns to compute, taken per organization announcing: each its own waiting list, served round-robin. */
class Turns {
  /** Per organization, the computations waiting for a turn; in the order the organizations are served next. */
  private readonly waiting = new Map<string, (() => void)[]>();
  private readonly running = new Map<string, number>();
  private total = 0;
  private readonly perOrg: number;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {
    this.perOrg = Math.max(1, Math.floor(concurrency / 2));
  }

  /** Waits for a turn for `org` (or until `signal` aborts); resolves to its release. */
  async take(org: string, signal: AbortSignal): Promise<() => void> {
    if (this.total >= this.concurrency || (this.running.get(org) ?? 0) >= this.perOrg || this.waiting.has(org)) {
      const queue = this.waiting.get(org) ?? [];
      if (queue.length >= this.maxWaiting) throw new Error(`${this.maxWaiting} impacts of ${org}'s disruptions are already waiting to be computed`);
      await new Promise<void>((resolve, reject) => {
        const start = () => {
          signal.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          queue.splice(queue.indexOf(start), 1);
          if (queue.length === 0) this.waiting.delete(org);
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', abort, { once: true });
        queue.push(start);
        this.waiting.set(org, queue);
      });
    } else this.started(org);
    return () => {
      this.running.set(org, this.running.get(org)! - 1);
      this.total--;
      this.serve();
    };
  }

  private started(org: string): void {
    this.running.set(org, (this.running.get(org) ?? 0) + 1);
    this.total++;
  }

  /** Gives free turns to the organizations waiting, one each in turn, each then going last. */
  private serve(): void {
    for (const [org, queue] of this.waiting) {
      if (this.total >= this.concurrency) return;
      if ((this.running.get(org) ?? 0) >= this.perOrg) continue;
      this.waiting.delete(org);
      if (queue.length > 1) this.waiting.set(org, queue);
      this.started(org);
      queue.shift()!();
    }
  }
}

/** Rejects with the signal's reason once it aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));

/** One disruption's impact for one token set: its answer, and the facts of the twins it hits once a subscription needs them. */
interface Computation {
  answer: Promise<ImpactAnswer | null>;
  facts?: Promise<Map<string, TwinFacts>>;
}

/**
 * The impacts of disruptions, each computed once per event and token set however many
 * subscriptions ask for it meanwhile, a bounded number at once.
 */
export class ImpactWarnings {
  private readonly computing = new Map<string, Computation>();
  private readonly turns: Turns;
  private readonly deadlineMs: number;

  constructor(private readonly options: ImpactWarningsOptions) {
    const concurrency = options.concurrency ?? 4;
    const maxWaiting = options.maxWaiting ?? 1000;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new TypeError('concurrency must be a positive integer');
    if (!(Number.isInteger(maxWaiting) && maxWaiting >= 0)) throw new TypeError('maxWaiting must be a non-negative integer');
    if (!(this.deadlineMs > 0)) throw new TypeError('deadlineMs must be positive');
    this.turns = new Turns(concurrency, maxWaiting);
  }

  /**
   * A disruption's impact as far as `tokens` reach, if it hits a twin the subscription selects
   * (`filter`) and may subscribe to (`subscribe`); else null, as when it could not be computed.
   * When `opened` (the subscription was delivered this disruption OPEN, and this is its CLEARED),
   * the impact as computed now, empty if none, so that the dashboard always takes it back. Not
   * computed when no token is of the organization announcing it: its impact would be refused.
   */
  async forSubscription(
    item: DisruptionItem,
    tokens: PresentedToken[],
    filter: TwinFilter | null | undefined,
    subscribe: Reach,
    opened: Promise<boolean> | boolean = false,
  ): Promise<ImpactAnswer | null> {
    if (!tokens.some((token) => token.org === item.event.org)) return null;
    const computation = this.computation(item, tokens);
    const [answer, clears] = await Promise.all([computation.answer, opened]);
    if (!answer) return clears ? NO_IMPACT : null;
    if (clears) return answer;
    const facts = selectsByFacts(filter, subscribe) ? await (computation.facts ??= this.factsOf(answer, item.event, tokens)) : new Map<string, TwinFacts>();
    return hitsSubscription(filter, subscribe, item.event, answer, facts) ? answer : null;
  }

  private computation(item: DisruptionItem, tokens: PresentedToken[]): Computation {
    const key = `${item.seq}\u0000${tokens.map((token) => token.token).join(',')}`;
    let computation = this.computing.get(key);
    if (!computation) {
      const { twinId, org, disruption } = item.event;
      const deadline = AbortSignal.timeout(this.deadlineMs);
      // Past its deadline the answer is no longer waited for; its turn ends when it does.
      const run = this.turns.take(org, deadline).then((release) => this.options.run(disruptionQuestion(twinId, disruption), tokens).finally(release));
      const answer = Promise.race([run, aborted(deadline)]).catch((error: unknown) => {
        this.options.logger.error({ err: error, twinId, disruption: disruption.id }, 'impact of a disruption not computed (in time); no warning sent for it');
        return null;
      });
      computation = { answer };
      this.computing.set(key, computation);
      // Shared while it runs: the subscriptions it is for all ask as the event is handed out.
      void answer.then(() => this.computing.delete(key));
    }
    return computation;
  }

  /** The kinds and tags of the twins hit downstream (the first `MAX_DESCRIBED`), as far as `tokens` may read them. */
  private async factsOf(answer: ImpactAnswer, event: TwinDisruptionEvent, tokens: PresentedToken[]): Promise<Map<string, TwinFacts>> {
    const hit = answer.affected.map((twin) => twin.twinId).filter((twinId) => twinId !== event.twinId);
    const twinIds = hit.slice(0, MAX_DESCRIBED);
    if (twinIds.length === 0) return new Map();
    if (hit.length > MAX_DESCRIBED) {
      this.options.logger.warn(
        { twinId: event.twinId, hit: hit.length, described: MAX_DESCRIBED },
        'a disruption hits more twins than are described: those beyond have no kind or tags for filters and grants to select',
      );
    }
    const fields = twinIds.map((_, index) => `t${index}: twin(id: $t${index}) { kind tags }`);
    const query = `query TwinsHit(${twinIds.map((_, index) => `$t${index}: ID!`).join(', ')}) { ${fields.join(' ')} }`;
    try {
      // Partial data is data: a twin the tokens may not read has no kind or tags.
      const { data } = await this.options.execute(query, Object.fromEntries(twinIds.map((twinId, index) => [`t${index}`, twinId])), tokens);
      return new Map(
        twinIds.flatMap((twinId, index) => {
          const twin = data?.[`t${index}`] as Partial<TwinFacts> | null | undefined;
          return twin?.kind ? [[twinId, { kind: twin.kind, tags: twin.tags ?? [] }] as const] : [];
        }),
      );
    } catch (error) {
      this.options.logger.warn(
        { err: error, twinId: event.twinId },
        'kinds and tags of the twins a disruption hits not read; filters and grants by kind or tag select none of them',
      );
      return new Map();
    }
  }
}
