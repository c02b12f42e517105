import { composeServices } from '@apollo/composition';
import type { SupergraphManager } from '@apollo/gateway';
import { parse } from 'graphql';
import type { Logger } from '../lib/logger.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { orgSdl } from '../subgraphs/org/schema.ts';

type SupergraphSdlHookOptions = Parameters<SupergraphManager['initialize']>[0];

/** A member as the directory's registry lists it. */
export interface Member {
  slug: string;
  name: string;
  subgraphUrl: string;
  jwksUrl: string;
  status: 'PENDING' | 'ACTIVE' | 'SUSPENDED';
}

/** The registry as the directory serves it at `/registry`. */
export interface RegistryView {
  /** Composed members (not suspended). */
  members: Member[];
  /** Slugs of suspended members: their tokens, grants held by them and their events count for nothing. */
  suspended: string[];
}

export interface RegistrySupergraphOptions {
  /** The directory's GraphQL URL; its registry is at `/registry` beside it. */
  directoryUrl: string;
  /** Called with the registry each time it is read, before composing. */
  onRegistry?: (registry: RegistryView) => void;
  logger: Logger;
  /** @default 5000 */
  pollMs?: number;
  /** @default 3000 */
  fetchTimeoutMs?: number;
}

async function fetchJson<T>(url: string, init: RequestInit, timeoutMs: number): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/**
 * The supergraph of a twinx network, composed from the registry (ARCHITECTURE.md, "Federation"):
 * the directory and every member that is not suspended. Recomposes when told the membership
 * changed (`recompose()`) and on a timer; keeps the last good supergraph when a composition fails.
 */
export class RegistrySupergraph implements SupergraphManager {
  private members: Member[] = [];
  private fingerprint = '';
  private timer?: NodeJS.Timeout;
  private composing: Promise<void> = Promise.resolve();
  private suspendedSlugs: readonly string[] = [];
  /** Reads the registry and composes again now (membership changed); set once initialized. */
  recompose: () => void = () => undefined;

  constructor(private readonly options: RegistrySupergraphOptions) {}

  /** Why the last composition failed, until one succeeds (served on the gateway's `/readyz`). */
  lastFailure: { at: string; error: string } | null = null;

  /** Members in the current supergraph. */
  current(): readonly Member[] {
    return this.members;
  }

  /** Slugs of suspended members, as of the last read of the registry. */
  suspended(): readonly string[] {
    return this.suspendedSlugs;
  }

  private async sdlOf(name: string, url: string, fallback: () => string): Promise<string> {
    try {
      const result = await fetchJson<{ data?: { _service?: { sdl?: string } } }>(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ _service { sdl } }' }) },
        this.options.fetchTimeoutMs ?? 3000,
      );
      const sdl = result.data?._service?.sdl;
      if (sdl) return sdl;
      throw new Error('no SDL in the answer');
    } catch (error) {
      // Every organization runs the same subgraph: while one is unreachable, compose it from
      // the template so that the rest of the network keeps its graph.
      this.options.logger.warn({ subgraph: name, err: error }, 'subgraph SDL unavailable, composing it from the organization template');
      return fallback();
    }
  }

  /** Composes the network as the registry says now; throws when composition fails. */
  private async compose(): Promise<{ supergraphSdl: string; members: Member[]; fingerprint: string }> {
    const { directoryUrl, fetchTimeoutMs = 3000 } = this.options;
    const registry = await fetchJson<RegistryView>(new URL('/registry', directoryUrl).href, {}, fetchTimeoutMs);
    this.suspendedSlugs = registry.suspended;
    this.options.onRegistry?.(registry);
    const { members } = registry;
    const directorySdl = await this.sdlOf('directory', directoryUrl, () => {
      throw new Error('the directory is unreachable');
    });
    const subgraphs = [{ name: 'directory', url: directoryUrl, typeDefs: parse(directorySdl) }];
    for (const member of members) {
      const sdl = await this.sdlOf(member.slug, member.subgraphUrl, () => orgSdl(orgNames(member.slug)));
      subgraphs.push({ name: member.slug, url: member.subgraphUrl, typeDefs: parse(sdl) });
    }
    const result = composeServices(subgraphs);
    if (result.errors) throw new Error(`composition failed: ${result.errors.map((error) => error.message).join('; ')}`);
    return { supergraphSdl: result.supergraphSdl, members, fingerprint: JSON.stringify(members) + result.supergraphSdl };
  }

  async initialize({ update }: SupergraphSdlHookOptions) {
    const first = await this.compose();
    this.members = first.members;
    this.fingerprint = first.fingerprint;
    this.recompose = () => {
      this.composing = this.composing.then(async () => {
        try {
          const next = await this.compose();
          this.lastFailure = null;
          if (next.fingerprint === this.fingerprint) return;
          update(next.supergraphSdl);
          this.members = next.members;
          this.fingerprint = next.fingerprint;
          this.options.logger.info({ members: next.members.map((m) => `${m.slug}:${m.status}`) }, 'supergraph recomposed');
        } catch (error) {
          this.lastFailure = { at: new Date().toISOString(), error: error instanceof Error ? error.message : String(error) };
          this.options.logger.error({ err: error }, 'recomposition failed, keeping the last good supergraph');
        }
      });
    };
    this.timer = setInterval(this.recompose, this.options.pollMs ?? 5000);
    return {
      supergraphSdl: first.supergraphSdl,
      cleanup: async () => {
        clearInterval(this.timer);
        await this.composing;
      },
    };
  }
}
