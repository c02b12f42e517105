import { composeServices, type CompositionResult } from '@apollo/composition';
import type { SupergraphManager } from '@apollo/gateway';
import { parse } from 'graphql';
import { request } from 'undici';
import { fetchServiceSdl, type ServiceSdl } from '../lib/graphql/service-query.ts';
import type { Logger } from '../lib/logger.ts';
import { directorySdl } from '../subgraphs/directory/schema.ts';
import { MemberAnswers } from './answers.ts';
import { DIRECTORY_SUBGRAPH, type ComposedNetwork } from './data-source.ts';
import { checkMemberSdl, templateSdl, type MemberCheck } from './membership.ts';

type SupergraphSdlHookOptions = Parameters<SupergraphManager['initialize']>[0];

/** A member as the directory's registry lists it. */
export interface Member {
  slug: string;
  name: string;
  subgraphUrl: string;
  jwksUrl: string;
  status: 'PENDING' | 'ACTIVE' | 'SUSPENDED';
}

/** A member in the supergraph. */
export interface ComposedMember extends Member {
  /** The SDL it was composed from. */
  sdl: string;
  /** The twinx template version its SDL matches. */
  template: number;
  /** It could not be reached: composed from the template. */
  unreachable: boolean;
}

/** A member left out of the supergraph, and why. */
export interface Refusal {
  slug: string;
  reason: string;
}

interface Network {
  /** The registry as read for this composition. */
  members: Member[];
  supergraphSdl: string;
  composed: ComposedMember[];
  refused: Refusal[];
}

/** The registry as the directory serves it at `/registry`. */
export interface RegistryView {
  /** Members that are not suspended. */
  members: Member[];
  /** Slugs of suspended members: their tokens, grants held by them and their messages count for nothing. */
  suspended: string[];
}

export interface RegistrySupergraphOptions {
  /** The directory's GraphQL URL; its registry is at `/registry` beside it. */
  directoryUrl: string;
  /** Called with the registry each time it is read, before composing (closing access cannot wait for a composition). */
  onRegistry?: (registry: RegistryView) => void;
  logger: Logger;
  /** @default 5000 */
  pollMs?: number;
  /** @default 3000 */
  fetchTimeoutMs?: number;
}

function errorsOf(result: CompositionResult): string {
  return (result.errors ?? []).map((error) => error.message).join('; ');
}

/**
 * The directory (its SDL generated here for exactly these members: the directory is the
 * operator's trusted service, and a stub for a member left out would break composition) with
 * the given members.
 */
function compose(directoryUrl: string, members: readonly ComposedMember[]): CompositionResult {
  return composeServices([
    { name: DIRECTORY_SUBGRAPH, url: directoryUrl, typeDefs: parse(directorySdl(members)) },
    ...members.map((member) => ({ name: member.slug, url: member.subgraphUrl, typeDefs: parse(member.sdl) })),
  ]);
}

/**
 * Composes the directory with the members whose SDL passed the check, in registry order. Little
 * that passes the check fails composition (a field of its own twin type that the directory's
 * stub declares too, say), but composition has the last word: when the whole fails, members are
 * added one at a time and each one whose addition breaks composition is refused, so that no
 * member stops the others.
 */
function composeMembers(directoryUrl: string, candidates: ComposedMember[]): Omit<Network, 'members'> {
  const whole = compose(directoryUrl, candidates);
  if (whole.errors === undefined) return { supergraphSdl: whole.supergraphSdl, composed: candidates, refused: [] };
  const alone = compose(directoryUrl, []);
  if (alone.errors !== undefined) throw new Error(`the directory alone does not compose: ${errorsOf(alone)}`);
  let { supergraphSdl } = alone;
  const composed: ComposedMember[] = [];
  const refused: Refusal[] = [];
  for (const member of candidates) {
    const result = compose(directoryUrl, [...composed, member]);
    if (result.errors !== undefined) {
      refused.push({ slug: member.slug, reason: `does not compose with the members before it: ${errorsOf(result)}` });
      continue;
    }
    composed.push(member);
    supergraphSdl = result.supergraphSdl;
  }
  return { supergraphSdl, composed, refused };
}

/**
 * The supergraph of a twinx network, composed from the registry (ARCHITECTURE.md, "Federation"):
 * the directory and every member that is not suspended, each checked against the organization
 * template ("Trust between members"). A member refused, broken or unreachable never stops the
 * others: it is left out (or, unreachable, composed from the template). Recomposes when told the
 * membership changed (`recompose()`) and on a timer, one composition at a time; keeps the last
 * good supergraph when the registry cannot be read.
 */
export class RegistrySupergraph implements SupergraphManager, ComposedNetwork {
  private network: Network = { members: [], supergraphSdl: '', composed: [], refused: [] };
  private answers = new Map<string, MemberAnswers>();
  private slugs = '';
  /** What the last composition was made of: the same again needs no composition. */
  private inputs = '';
  /** The last check of each member's SDL: an SDL checked once is not checked again, nor sent again while unchanged (ETag). */
  private checks = new Map<string, { served: ServiceSdl; check: MemberCheck }>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  /** Reads the registry and composes again now (membership changed); set once initialized. */
  recompose: () => void = () => undefined;

  constructor(private readonly options: RegistrySupergraphOptions) {}

  /** Why the last composition failed, until one succeeds (served on the gateway's `/readyz`). */
  lastFailure: { at: string; error: string } | null = null;

  /** Composition rounds since start: each reads the registry and the members' SDL, and composes if anything changed. */
  compositions = 0;

  /** Composition rounds that failed since start. */
  failures = 0;

  /** When a composition round last succeeded. */
  lastSuccess: Date | null = null;

  composedSlugs(): string {
    return this.slugs;
  }

  answersOf(slug: string): MemberAnswers | undefined {
    return this.answers.get(slug);
  }

  /** The network as composed, for the gateway's `/readyz`. */
  readiness() {
    const { composed, refused } = this.network;
    return {
      /** The registry was read in the last round (the gateway is not ready until it has been read once). */
      directory: this.lastFailure === null,
      members: composed.map((member) => `${member.slug}:${member.status}`),
      templates: Object.fromEntries(composed.map((member) => [member.slug, member.template])),
      unreachable: composed.filter((member) => member.unreachable).map((member) => member.slug),
      refused,
      compositions: this.compositions,
      lastCompositionFailure: this.lastFailure,
    };
  }

  /**
   * Composes the network as the registry says now; undefined when nothing changed since the last
   * composition. Throws when the registry cannot be read or the directory alone does not compose.
   */
  private async composeNow(): Promise<(Network & { inputs: string }) | undefined> {
    const { directoryUrl, fetchTimeoutMs = 3000, logger } = this.options;
    this.compositions++;
    const registry = await request(new URL('/registry', directoryUrl), { signal: AbortSignal.timeout(fetchTimeoutMs) });
    if (registry.statusCode !== 200) {
      await registry.body.dump();
      throw new Error(`${directoryUrl}: registry answered HTTP ${registry.statusCode}`);
    }
    const view = (await registry.body.json()) as RegistryView;
    this.options.onRegistry?.(view);
    const { members } = view;
    const served = await Promise.all(
      members.map((member) =>
        fetchServiceSdl(member.subgraphUrl, fetchTimeoutMs, this.checks.get(member.slug)?.served).catch((error: unknown) => {
          // Every organization runs the same subgraph: while one is unreachable, compose it from
          // the template so that the rest of the network keeps its graph.
          logger.warn({ subgraph: member.slug, err: error }, 'subgraph SDL unavailable, composing it from the organization template');
          return undefined;
        }),
      ),
    );
    const candidates: ComposedMember[] = [];
    const refused: Refusal[] = [];
    const checks = new Map<string, { served: ServiceSdl; check: MemberCheck }>();
    members.forEach((member, index) => {
      const answer = served[index];
      if (answer === undefined) {
        const template = templateSdl(member.slug);
        candidates.push({ ...member, sdl: template.sdl, template: template.version, unreachable: true });
        return;
      }
      const known = this.checks.get(member.slug);
      const check = known?.served.sdl === answer.sdl ? known.check : checkMemberSdl(member.slug, answer.sdl);
      checks.set(member.slug, { served: answer, check });
      if (check.accepted) candidates.push({ ...member, sdl: answer.sdl, template: check.version, unreachable: false });
      else refused.push({ slug: member.slug, reason: check.reason });
    });
    this.checks = checks;
    const inputs = JSON.stringify([candidates, refused]);
    if (inputs === this.inputs) return undefined;
    const network = composeMembers(directoryUrl, candidates);
    return { ...network, members, refused: [...refused, ...network.refused], inputs };
  }

  /**
   * Puts a composition in effect: the supergraph for the gateway (`update`, unless it is the
   * first) once the members' schemas for their answers are built, then for the data sources and
   * `/readyz`; logs what changed.
   */
  private adopt(next: Network & { inputs: string }, update?: (supergraphSdl: string) => void): void {
    const { logger } = this.options;
    const answers = new Map(
      next.composed.map((member) => {
        const known = this.answers.get(member.slug);
        return [member.slug, known?.sdl === member.sdl ? known : new MemberAnswers(member.slug, member.sdl)];
      }),
    );
    if (update !== undefined && next.supergraphSdl !== this.network.supergraphSdl) update(next.supergraphSdl);
    this.answers = answers;
    this.slugs = next.composed.map((member) => member.slug).join(',');
    const refusedBefore = new Set(this.network.refused.map((refusal) => JSON.stringify(refusal)));
    for (const refusal of next.refused)
      if (!refusedBefore.has(JSON.stringify(refusal))) logger.warn({ subgraph: refusal.slug, reason: refusal.reason }, 'member refused');
    this.network = next;
    this.inputs = next.inputs;
    logger.info({ members: next.composed.map((m) => `${m.slug}:${m.status}`), refused: next.refused.map((r) => r.slug) }, 'network composed');
  }

  private async compositionRound(update: (supergraphSdl: string) => void): Promise<void> {
    try {
      const next = await this.composeNow();
      this.lastFailure = null;
      this.lastSuccess = new Date();
      if (next !== undefined) this.adopt(next, update);
    } catch (error) {
      this.failed(error, 'recomposition failed, keeping the last good supergraph');
    }
  }

  private failed(error: unknown, message: string): void {
    this.failures++;
    this.lastFailure = { at: new Date().toISOString(), error: error instanceof Error ? error.message : String(error) };
    this.options.logger.error({ err: error }, message);
  }

  /** Recomposes now, or once more after the composition under way: requests meanwhile coalesce (at most one running, one pending). */
  private requestRecomposition(update: (supergraphSdl: string) => void): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.compositionRound(update);
      } while (this.again);
      this.running = undefined;
    })();
  }

  async initialize({ update }: SupergraphSdlHookOptions) {
    const { directoryUrl, pollMs = 5000 } = this.options;
    // Nothing composed yet: the first round always composes. Without the registry (the directory
    // not up yet), the gateway starts with the directory alone, whose SDL is made here, and
    // composes the members once the registry answers, read every second until then.
    let first: Network & { inputs: string };
    try {
      first = (await this.composeNow())!;
      this.lastSuccess = new Date();
    } catch (error) {
      this.failed(error, 'registry unavailable, starting with the directory alone');
      first = { ...composeMembers(directoryUrl, []), members: [], inputs: '' };
    }
    this.adopt(first);
    this.recompose = () => this.requestRecomposition(update);
    const poll = () => {
      this.timer = setTimeout(
        () => {
          this.recompose();
          poll();
        },
        this.lastSuccess ? pollMs : Math.min(pollMs, 1000),
      );
    };
    poll();
    return {
      supergraphSdl: first.supergraphSdl,
      cleanup: async () => {
        clearTimeout(this.timer);
        await this.running;
      },
    };
  }
}
