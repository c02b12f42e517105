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
 * disrupted twin's kind and tags are its event's; those of the twins downstream are `facts` (a
 * twin not described there is selected by id and organization only).
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
   * the organizations with questions.
   * @default 4
   */
  concurrency?: number;
  /**
   * Impacts waiting their turn at most; one more is not computed (its warning is not sent, and
   * logged), so that a member announcing disruptions without end holds neither memory nor the
   * subscribers' other events for long.
   * @default 1000
   */
  maxWaiting?: number;
}

/**
 * The impacts of disruptions, each computed once per event and token set however many
 * subscriptions ask for it meanwhile, a bounded number at once.
 */
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
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly concurrency: number;
  private readonly maxWaiting: number;

  constructor(private readonly options: ImpactWarningsOptions) {
    this.concurrency = options.concurrency ?? 4;
    this.maxWaiting = options.maxWaiting ?? 1000;
    if (!(Number.isInteger(this.concurrency) && this.concurrency > 0)) throw new TypeError('concurrency must be a positive integer');
    if (!(Number.isInteger(this.maxWaiting) && this.maxWaiting >= 0)) throw new TypeError('maxWaiting must be a non-negative integer');
  }

  /**
   * A disruption's impact as far as `tokens` reach, if it hits a twin the subscription selects
   * (`filter`) and may subscribe to (`subscribe`); else null, as when it could not be computed.
   */
  async forSubscription(item: DisruptionItem, tokens: PresentedToken[], filter: TwinFilter | null | undefined, subscribe: Reach): Promise<ImpactAnswer | null> {
    const computation = this.computation(item, tokens);
    const answer = await computation.answer;
    if (!answer) return null;
    const facts = selectsByFacts(filter, subscribe) ? await (computation.facts ??= this.factsOf(answer, item.event, tokens)) : new Map<string, TwinFacts>();
    return hitsSubscription(filter, subscribe, item.event, answer, facts) ? answer : null;
  }

  private computation(item: DisruptionItem, tokens: PresentedToken[]): Computation {
    const key = `${item.seq}\u0000${tokens.map((token) => token.token).join(',')}`;
    let computation = this.computing.get(key);
    if (!computation) {
      const { twinId, disruption } = item.event;
      const answer = this.queued(() => this.options.run(disruptionQuestion(twinId, disruption), tokens)).catch((error: unknown) => {
        this.options.logger.error({ err: error, twinId, disruption: disruption.id }, 'impact of a disruption not computed; no warning sent for it');
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
    const twinIds = answer.affected
      .map((twin) => twin.twinId)
      .filter((twinId) => twinId !== event.twinId)
      .slice(0, MAX_DESCRIBED);
    if (twinIds.length === 0) return new Map();
    const fields = twinIds.map((_, index) => `t${index}: twin(id: $t${index}) { kind tags }`);
    const query = `query TwinsHit(${twinIds.map((_, index) => `$t${index}: ID!`).join(', ')}) { ${fields.join(' ')} }`;
    try {
      // Partial data is data: a twin the tokens may not read is selected by id and organization only.
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
        'kinds and tags of the twins a disruption hits not read; they are selected by id and organization only',
      );
      return new Map();
    }
  }

  private async queued<T>(run: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) this.running++;
    else if (this.waiting.length < this.maxWaiting) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else throw new Error(`${this.maxWaiting} impacts are already waiting to be computed`);
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
