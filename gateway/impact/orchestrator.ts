import type { GraphQLFormattedError } from 'graphql';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ErrorCode } from '../../lib/errors.ts';
import { fieldName, parseTwinId } from '../../lib/ids.ts';
import { anyOf, chanceWithin } from '../../lib/impact/chance.ts';
import { HOUR_MS } from '../../lib/impact/loss.ts';
import { impactStepAnswerSchema, impactStepRequestSchema } from '../../lib/impact/protocol.ts';
import { verifyImpactStatement } from '../../lib/impact/statement.ts';
import type {
  AffectedTwin,
  DisruptionRequest,
  ImpactAnswer,
  ImpactBoundary,
  ImpactQuestion,
  ImpactStepAnswer,
  ImpactStepRequest,
  ImpactStop,
  Modifications,
  SupplierLoss,
} from '../../lib/impact/types.ts';
import type { NetworkKeys, PresentedToken } from '../../lib/tokens/network.ts';
import { parseInput } from '../../lib/validation.ts';

/** Most waves of organizations one question may take. */
export const MAX_HOPS = 32;

/** An operation's answer from the network graph. */
export interface NetworkAnswer {
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLFormattedError[];
}

export interface ImpactOrchestratorOptions {
  /**
   * Runs an operation through the network graph with the caller's tokens, as any caller's: each
   * organization receives only the tokens it issued, and one that is down or slower than the
   * gateway's subgraph timeout is an `UNAVAILABLE` error at its part.
   */
  execute: (query: string, variables: Record<string, unknown>, tokens: PresentedToken[]) => Promise<NetworkAnswer>;
  /** The members' keys, which impact statements are verified with. */
  keys: Pick<NetworkKeys, 'verify'>;
  /** Whether the organization is in the network graph as this gateway composed it. */
  composed: (org: string) => boolean;
}

/** Most statements one directory lookup carries (the directory's own limit). */
const STATEMENTS_PER_LOOKUP = 100;
/** Most characters of statements one lookup carries: under the directory's request body limit (1 MiB), with room for the query. */
const LOOKUP_CHARACTERS = 1_000_000;

const recipientsSchema = z.array(z.object({ supplierId: z.string().max(200), orgs: z.array(z.string().max(40)).max(10_000) })).max(10_000);

function orgOf(twinId: string): string | undefined {
  return parseTwinId(twinId)?.org;
}

/** What of a scenario's modifications concerns the organization: those of its own customers' supply. */
function modificationsOf(org: string, modifications: Modifications): Modifications {
  const own = ({ customerId }: { customerId: string }) => orgOf(customerId) === org;
  return {
    alternates: modifications.alternates.filter(own),
    extraStock: modifications.extraStock.filter(own),
    leadTimes: modifications.leadTimes.filter(own),
  };
}

/** The twins whose loss an organization is asked about: its disrupted twins and the suppliers of its inputs. */
function askedAbout(request: Pick<ImpactStepRequest, 'disruptions' | 'inputs'>): string[] {
  return [...request.disruptions.map((disruption) => disruption.twinId), ...request.inputs.map((input) => input.supplierId)];
}

/**
 * Signed statements, by signer, in lookups of at most STATEMENTS_PER_LOOKUP statements and
 * LOOKUP_CHARACTERS characters; a statement larger than that goes alone.
 */
function lookups(statements: Map<string, string>): [org: string, statement: string][][] {
  const all: [string, string][][] = [];
  let size = 0;
  for (const entry of statements) {
    const length = entry[1].length + 3;
    const last = all.at(-1);
    if (last && last.length < STATEMENTS_PER_LOOKUP && size + length <= LOOKUP_CHARACTERS) {
      last.push(entry);
      size += length;
    } else {
      all.push([entry]);
      size = length;
    }
  }
  return all;
}

function stop(org: string, reason: ImpactStop, twinIds: string[], message: string): ImpactBoundary {
  return { org, reason, twinIds, message };
}

/** An organization's part of an answer, or where it stops. */
type Part = { answer: ImpactStepAnswer } | { stop: ImpactBoundary };

/** What an organization's error says of the answer: it refused (or does not show the twins), else it could not answer. */
const REFUSALS = new Set<unknown>([ErrorCode.FORBIDDEN, ErrorCode.UNAUTHENTICATED, ErrorCode.NOT_FOUND, ErrorCode.UNKNOWN_TWIN]);

/**
 * Answers an impact question across the network, hop by hop (ARCHITECTURE.md, "Impact across the
 * supply network"): each organization computes its own part with its own data (`impactStep`),
 * asked with the caller's tokens through the network graph; what it passes on is only the lost
 * output of its own twins, signed, which the directory says who consumes. Nothing a member says is
 * believed about another: an answer naming another organization's twins, resolving other disruptions
 * than it was asked about, saying its outputs depend on what it was not told, or whose statement
 * does not verify or does not state exactly its outputs, is refused. Where the answer stops is named
 * (`unknown`), never dropped.
 */
export class ImpactOrchestrator {
  constructor(private readonly options: ImpactOrchestratorOptions) {}

  /**
   * The answer to `question`, as far as `tokens` reach (`INVALID_INPUT` for a question outside the
   * protocol's bounds). Bounded: at most `maxHops` (≤ 32) waves, each organization asked at most
   * once per wave, each wave's organizations asked at once.
   */
  async run(question: ImpactQuestion, tokens: PresentedToken[]): Promise<ImpactAnswer> {
    // Times are whole milliseconds (lib/impact/protocol.ts).
    const until = question.now + Math.round(question.horizonHours * HOUR_MS);
    const maxHops = Math.min(question.maxHops, MAX_HOPS);
    // What organizations will be asked is checked as they will check it, before any is asked.
    parseInput(
      impactStepRequestSchema,
      { now: question.now, until, disruptions: question.disruptions, inputs: [], modifications: question.modifications },
      'question',
    );
    const disruptions = new Map<string, DisruptionRequest[]>();
    for (const disruption of question.disruptions) {
      const org = orgOf(disruption.twinId)!;
      const own = disruptions.get(org);
      if (own) own.push(disruption);
      else disruptions.set(org, [disruption]);
    }
    /** Each organization's inputs, by supplier: the latest loss its owner said. */
    const inputs = new Map<string, Map<string, SupplierLoss>>();
    /** Each organization's latest answer (a later one replaces an earlier one). */
    const answers = new Map<string, ImpactStepAnswer>();
    /** Where each organization's part stops, as its latest answer (or failure) says. */
    const stops = new Map<string, ImpactBoundary[]>();
    /** Where following stops across organizations: cycles and the hop limit. */
    const followed: ImpactBoundary[] = [];
    /**
     * For each output followed, the twins its loss came from across earlier waves, as its owner
     * says it depends on them (`dependsOn`): the other organizations' outputs reaching it, theirs in
     * turn, and the disruptions.
     */
    const sources = new Map<string, ReadonlySet<string>>();
    /** For each organization answered, the twins its inputs came from, and its disruptions: what reaches its twins. */
    const reach = new Map<string, ReadonlySet<string>>();
    /** Organizations to ask in the next wave, with the twins whose new loss they are to be told. */
    let pending = new Map([...disruptions].map(([org, own]) => [org, own.map((disruption) => disruption.twinId)]));
    let hops = 0;
    while (pending.size > 0) {
      if (hops === maxHops) {
        for (const [org, twinIds] of pending) {
          followed.push(stop(org, 'HOP_LIMIT', twinIds, `${org} is more than ${maxHops} hops away: the loss of these twins was not followed into it.`));
        }
        break;
      }
      hops++;
      const wave = [...pending.keys()];
      pending = new Map();
      const requests = wave.map((org): ImpactStepRequest => ({
        now: question.now,
        until,
        disruptions: disruptions.get(org) ?? [],
        inputs: [...(inputs.get(org)?.values() ?? [])],
        modifications: modificationsOf(org, question.modifications),
      }));
      const parts = await Promise.all(wave.map((org, index) => this.ask(org, requests[index]!, tokens)));
      /** Outputs whose loss is new this wave, by twin; and the statements saying them, by signer. */
      const fresh = new Map<string, SupplierLoss>();
      const statements = new Map<string, string>();
      wave.forEach((org, index) => {
        const part = parts[index]!;
        const request = requests[index]!;
        if ('stop' in part) {
          // Its earlier answer stands; asked again and stopped for the same reason, one boundary names all the twins.
          const earlier = stops.get(org) ?? [];
          const same = earlier.find((boundary) => boundary.reason === part.stop.reason);
          const boundary = { ...part.stop, twinIds: [...new Set([...(same?.twinIds ?? []), ...part.stop.twinIds])] };
          stops.set(org, [...earlier.filter((other) => other !== same), boundary]);
          return;
        }
        const { answer } = part;
        const given = new Set(request.inputs.map((input) => input.supplierId));
        const comesFrom = (twinIds: Iterable<string>) => [...twinIds].flatMap((twinId) => [twinId, ...(given.has(twinId) ? (sources.get(twinId) ?? []) : [])]);
        const upstream = new Set(comesFrom(askedAbout(request)));
        const dependsOn = new Map(answer.dependsOn.map(({ supplierId, on }) => [supplierId, on]));
        const before = new Map(answers.get(org)?.outputs.map((output) => [output.supplierId, output.loss]));
        answers.set(org, answer);
        reach.set(org, upstream);
        stops.set(org, this.stopsIn(org, answer, request));
        const cyclic: string[] = [];
        for (const output of answer.outputs) {
          if (isDeepStrictEqual(before.get(output.supplierId), output.loss)) continue;
          const on = dependsOn.get(output.supplierId) ?? [];
          // Its loss changed through another organization's loss that came from it: around a cycle.
          if (on.some((twinId) => given.has(twinId) && sources.get(twinId)?.has(output.supplierId))) cyclic.push(output.supplierId);
          else {
            sources.set(output.supplierId, new Set(comesFrom(on)));
            fresh.set(output.supplierId, output);
          }
        }
        if (cyclic.length > 0) {
          followed.push(
            stop(org, 'CYCLE', cyclic, `The loss of these twins at ${org} comes back to them through other organizations: followed once, not around.`),
          );
        }
        if (answer.outputs.some((output) => fresh.has(output.supplierId))) statements.set(org, answer.statement);
      });
      const looked = await Promise.all(lookups(statements).map((lookup) => this.lookUp(lookup, tokens)));
      const failed = new Set(looked.flatMap((lookup) => lookup.failed));
      for (const org of failed) {
        const twinIds = [...fresh.keys()].filter((twinId) => orgOf(twinId) === org);
        followed.push(stop(org, 'UNAVAILABLE', twinIds, 'The directory could not say which organizations these twins supply.'));
      }
      const recipients = new Map(looked.flatMap((lookup) => [...lookup.recipients]));
      for (const [supplierId, output] of fresh) {
        if (failed.has(orgOf(supplierId)!)) continue;
        for (const org of recipients.get(supplierId) ?? []) {
          if (org === orgOf(supplierId)) continue;
          inputs.set(org, (inputs.get(org) ?? new Map()).set(supplierId, output));
          const told = pending.get(org);
          if (told) told.push(supplierId);
          else pending.set(org, [supplierId]);
        }
      }
    }

    const resolved = [...answers.values()].flatMap((answer) => answer.disruptions);
    const chanceOf = (twin: AffectedTwin, reaching: ReadonlySet<string>): number | null => {
      const causes = resolved.filter((disruption) => reaching.has(disruption.twinId));
      if (!causes.some((disruption) => disruption.predicted)) return null;
      return anyOf(causes.map((disruption) => chanceWithin(disruption, twin.from - disruption.from, question.now, until)));
    };
    const affected = [...answers]
      .flatMap(([org, answer]) => answer.affected.map((twin) => ({ ...twin, org, chance: chanceOf(twin, reach.get(org)!) })))
      .sort((a, b) => a.from - b.from || a.twinId.localeCompare(b.twinId));
    return { disruptions: resolved, affected, unknown: [...[...stops.values()].flat(), ...followed], hops };
  }

  /** Asks one organization for its part (`impactStep`), with the caller's tokens; checks what it answers. */
  private async ask(org: string, request: ImpactStepRequest, tokens: PresentedToken[]): Promise<Part> {
    const twinIds = askedAbout(request);
    if (!tokens.some((token) => token.org === org)) {
      return { stop: stop(org, 'FORBIDDEN', twinIds, `You hold no token of ${org}: what these twins' loss does there is not shown.`) };
    }
    if (!this.options.composed(org)) return { stop: stop(org, 'UNAVAILABLE', twinIds, `${org} is not in the network graph now.`) };
    const field = fieldName(org);
    const { data, errors } = await this.options.execute(
      `query ImpactStep($request: JSON!) { ${field} { impactStep(request: $request) } }`,
      { request },
      tokens,
    );
    const [error] = errors ?? [];
    if (error) {
      const reason = REFUSALS.has(error.extensions?.code) ? 'FORBIDDEN' : 'UNAVAILABLE';
      return { stop: stop(org, reason, twinIds, error.message) };
    }
    const refused = (why: string): Part => ({ stop: stop(org, 'UNAVAILABLE', twinIds, `${org}'s answer was refused: ${why}.`) });
    const parsed = impactStepAnswerSchema.safeParse((data?.[field] as { impactStep?: unknown } | null | undefined)?.impactStep);
    if (!parsed.success) return refused('it is not an impact step answer');
    const answer = parsed.data;
    const suppliers = new Set(request.inputs.map((input) => input.supplierId));
    const foreign = [
      ...answer.disruptions.map((disruption) => disruption.twinId),
      ...answer.affected.map((twin) => twin.twinId),
      ...answer.affected.map((twin) => twin.via).filter((via) => !suppliers.has(via)),
      ...answer.outputs.map((output) => output.supplierId),
      ...answer.cycles,
    ].filter((twinId) => orgOf(twinId) !== org);
    if (foreign.length > 0) return refused(`it speaks for twins of other organizations (${[...new Set(foreign)].slice(0, 5).join(', ')})`);
    // Disruptions it was not asked about would shift everyone's times to impact.
    const resolved = answer.disruptions.map((disruption) => disruption.twinId);
    if (!isDeepStrictEqual(resolved, askedAbout({ disruptions: request.disruptions, inputs: [] })))
      return refused('its disruptions are not those it was asked about');
    const outputs = new Set(answer.outputs.map((output) => output.supplierId));
    const origins = new Set(askedAbout(request));
    if (answer.dependsOn.some(({ supplierId, on }) => !outputs.has(supplierId) || on.some((twinId) => !origins.has(twinId))))
      return refused('it says its outputs depend on what it was not asked about');
    const statement = await verifyImpactStatement(answer.statement, this.options.keys).catch(() => null);
    if (statement?.org !== org || !isDeepStrictEqual(statement.outputs, answer.outputs))
      return refused('its statement does not verify or does not state its outputs');
    return { answer };
  }

  /** Where an organization's answer itself says it stops: twins hit that the caller may not see, and its own cycles. */
  private stopsIn(org: string, answer: ImpactStepAnswer, request: ImpactStepRequest): ImpactBoundary[] {
    return [
      ...(answer.hidden > 0 ? [stop(org, 'FORBIDDEN', askedAbout(request), `${answer.hidden} twins at ${org} are hit that your grants do not show.`)] : []),
      ...(answer.cycles.length > 0
        ? [stop(org, 'CYCLE', answer.cycles, `${org}'s own supply loops back on itself at these twins: followed once, not around.`)]
        : []),
    ];
  }

  /**
   * The directory's word on which organizations' twins consume the outputs of one lookup's
   * statements, by supplier, and the signers of those it could not look up: a failed lookup of
   * several statements is tried again one statement at a time, so that it stops only the signers
   * whose statements fail.
   */
  private async lookUp(lookup: [org: string, statement: string][], tokens: PresentedToken[]): Promise<{ recipients: Map<string, string[]>; failed: string[] }> {
    const recipients = await this.recipients(
      lookup.map(([, statement]) => statement),
      tokens,
    );
    if (recipients) return { recipients, failed: [] };
    if (lookup.length === 1) return { recipients: new Map(), failed: [lookup[0]![0]] };
    const alone = await Promise.all(lookup.map((entry) => this.lookUp([entry], tokens)));
    return { recipients: new Map(alone.flatMap((one) => [...one.recipients])), failed: alone.flatMap((one) => one.failed) };
  }

  /** The directory's word on which organizations' twins consume the stated outputs, by supplier; undefined when it could not say. */
  private async recipients(statements: string[], tokens: PresentedToken[]): Promise<Map<string, string[]> | undefined> {
    const { data, errors } = await this.options.execute(
      'query ImpactRecipients($statements: [String!]!) { impactRecipients(statements: $statements) { supplierId orgs } }',
      { statements },
      tokens,
    );
    const parsed = recipientsSchema.safeParse(data?.impactRecipients);
    if (errors?.length || !parsed.success) return undefined;
    return new Map(parsed.data.map((recipient) => [recipient.supplierId, recipient.orgs]));
  }
}
