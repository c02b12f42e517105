import { MAX_TOKEN_LIFETIME_MS } from '../../lib/tokens/tokens.ts';
import type { Prisma } from '../../prisma/generated/directory/client.ts';
import type { DirectoryDb } from './db.ts';

/**
 * Postgres NOTIFY channel on which every change to the directory's store reaches every replica
 * at once, sent in the transaction making it: a member's slug (the registry changed, wherever:
 * GraphQL, the CLI), `twin:<id>` (a catalog entry changed), `revoked:<expiry ms> <org> <jti>`
 * (a token revoked by its issuer) and `retired:<ms> <org> <kid>` (a key retired by its member,
 * subgraphs/directory/events.ts).
 */
export const DIRECTORY_CHANNEL = 'twinx_directory';

const TWIN = 'twin:';
const REVOKED = 'revoked:';

/** What visibility depends on. */
export type CatalogEntry = { id: string; org: string; kind: string; tags: string[] };
const ENTRY = { id: true, org: true, kind: true, tags: true } as const;

/** Catalog entries remembered at most (ids asked for that are not listed included); emptied when full. */
const MAX_ENTRIES = 10_000;

/**
 * Pages of the catalog remembered at most, by their query, and ids in them all; emptied when
 * either is reached. With the longest queries and ids (169 characters), about 30 MiB.
 */
const MAX_PAGES = 1000;
const MAX_PAGED_IDS = 100_000;
/** Longest query of a page remembered, in characters: longer ones (a caller with many grants' selectors) are read from the store each time. */
const MAX_PAGE_QUERY = 8 * 1024;

/**
 * Revoked tokens remembered at most: past it (members revoking without end), requests read the
 * store, as before the first read. Each organization's list holds 100,000 at most (lib/tokens/revocations.ts).
 */
const MAX_REVOKED = 1_000_000;

/** A revoked token's key: a revocation counts for its issuer's tokens only. */
function revokedKey(token: { org: string; jti: string }): string {
  return `${token.org} ${token.jti}`;
}

type RevokedRow = { org: string; jti: string; expiresAt: Date };
const REVOKED_ROW = { org: true, jti: true, expiresAt: true } as const;

/** `a b c` as [`a`, `b c`]. */
function splitOnce(text: string): [string, string] {
  const space = text.indexOf(' ');
  return [text.slice(0, space), text.slice(space + 1)];
}

/**
 * What the directory's requests read most, kept in memory on each replica in step with its store:
 * the tokens revoked (all of them, until they expire), catalog entries by id and pages of the
 * catalog by their query (as asked for).
 * Every change is made here, in one transaction with a NOTIFY on `DIRECTORY_CHANNEL`, and applied
 * at once; other replicas apply it as they hear of it (`heard`). While the channel is not
 * listened to (at start, or lost), nothing is recalled: requests read the store.
 */
export class DirectoryCache {
  /** Revoked tokens by key, with when they expire (ms). */
  private readonly revoked = new Map<string, number>();
  private readonly entries = new Map<string, CatalogEntry | null>();
  /** Pages of the catalog by their query: the ids found, in id order. */
  private readonly pages = new Map<string, readonly string[]>();
  /** Ids in the pages remembered. */
  private pagedIds = 0;
  /** Counts catalog changes heard: a read that saw one happen meanwhile is not remembered. */
  private catalogChanges = 0;
  /** Counts the channel's losses: one during `listened` leaves the cache not recalling. */
  private losses = 0;
  private listening = false;

  constructor(private readonly db: DirectoryDb) {}

  /** The channel is listened to: revoked tokens are read, and from now on recalled, unless it was lost meanwhile. */
  async listened(): Promise<void> {
    const losses = this.losses;
    this.forgetEntries();
    await this.readRevoked();
    if (this.losses === losses) this.listening = true;
  }

  /** The channel was lost: changes made meanwhile may go unheard, so nothing is recalled until it is back. */
  lost(): void {
    this.losses++;
    this.listening = false;
    this.forgetEntries();
  }

  /** Applies a change heard on the channel; false for a payload that is not the cache's (a registry change). */
  heard(payload: string): boolean {
    if (payload.startsWith(TWIN)) this.forgetEntry(payload.slice(TWIN.length));
    else if (payload.startsWith(REVOKED)) {
      const [expiresAt, key] = splitOnce(payload.slice(REVOKED.length));
      this.keep(key, Number(expiresAt));
    } else return false;
    return true;
  }

  /** Forgets the revoked tokens that have expired (on the revocation poll): kept in step by the channel, the rest needs no reading. */
  forgetExpired(): void {
    const now = Date.now();
    for (const [key, expiresAt] of this.revoked) if (expiresAt < now) this.revoked.delete(key);
  }

  /** Adds every revoked token of the store: what was revoked while nothing was heard. */
  private async readRevoked(): Promise<void> {
    const rows = await this.db.revokedToken.findMany({ select: REVOKED_ROW });
    for (const row of rows) this.remember(row);
    this.forgetExpired();
  }

  /** The given tokens but those their issuers revoked. */
  async notRevoked<T extends { org: string; jti: string }>(tokens: readonly T[]): Promise<T[]> {
    if (tokens.length === 0) return [];
    const revoked =
      this.listening && this.revoked.size <= MAX_REVOKED
        ? this.revoked
        : new Set((await this.db.revokedToken.findMany({ where: { OR: tokens.map(({ org, jti }) => ({ org, jti })) }, select: REVOKED_ROW })).map(revokedKey));
    return tokens.filter((token) => !revoked.has(revokedKey(token)));
  }

  /** Records tokens an organization revoked: refused here from now on, by every replica once it commits. */
  async recordRevoked(org: string, tokens: readonly { jti: string; kind: string; expiresAt: string }[]): Promise<void> {
    if (tokens.length === 0) return;
    const data = tokens.map((token) => ({ jti: token.jti, org, kind: token.kind, expiresAt: new Date(token.expiresAt) }));
    for (const row of data) this.remember(row);
    await this.db.$transaction(async (tx) => {
      // Other replicas are told of the tokens not recorded yet only (a revocation list repeats itself).
      const added = await tx.revokedToken.createManyAndReturn({ data, skipDuplicates: true, select: REVOKED_ROW });
      await notify(
        tx,
        added.map((row) => `${REVOKED}${row.expiresAt.getTime()} ${revokedKey(row)}`),
      );
    });
  }

  /** Catalog entries by id, in the order asked, null for ids not listed. */
  async catalogEntries(ids: readonly string[]): Promise<(CatalogEntry | null)[]> {
    const found = new Map<string, CatalogEntry | null>();
    if (this.listening) for (const id of ids) if (this.entries.has(id)) found.set(id, this.entries.get(id)!);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      const before = this.catalogChanges;
      const rows = await this.db.catalogTwin.findMany({ where: { id: { in: missing } }, select: ENTRY });
      for (const id of missing) found.set(id, null);
      for (const row of rows) found.set(row.id, row);
      if (this.listening && this.catalogChanges === before) {
        if (this.entries.size + missing.length > MAX_ENTRIES) this.entries.clear();
        for (const id of missing) this.entries.set(id, found.get(id)!);
      }
    }
    return ids.map((id) => found.get(id)!);
  }

  /**
   * The ids of the catalog's twins `where` finds, in id order, `take` at most: each page is
   * remembered by its query until the catalog changes, so that callers paging the same view of the
   * network (a dashboard's list) are answered without reading the store.
   */
  async catalogIds(where: Prisma.CatalogTwinWhereInput, take: number): Promise<readonly string[]> {
    const query = JSON.stringify([where, take]);
    const kept = this.listening ? this.pages.get(query) : undefined;
    if (kept) return kept;
    const before = this.catalogChanges;
    const rows = await this.db.catalogTwin.findMany({ where, orderBy: { id: 'asc' }, take, select: { id: true } });
    const ids = rows.map((row) => row.id);
    if (this.listening && this.catalogChanges === before && query.length <= MAX_PAGE_QUERY) {
      if (this.pages.size >= MAX_PAGES || this.pagedIds + ids.length > MAX_PAGED_IDS) this.forgetPages();
      this.pages.set(query, ids);
      this.pagedIds += ids.length;
    }
    return ids;
  }

  /** Tells every replica what is not kept in the store (a member's key retired): each hears `payload` on the channel. */
  async tell(payload: string): Promise<void> {
    await notify(this.db, [payload]);
  }

  /** Changes the catalog entry `id` (`write` is its statement), telling every replica. */
  async changeCatalog(id: string, write: (tx: Prisma.TransactionClient) => Promise<unknown>): Promise<void> {
    await this.db.$transaction(async (tx) => {
      await write(tx);
      await notify(tx, [TWIN + id]);
    });
    this.forgetEntry(id);
  }

  private remember(row: RevokedRow): void {
    this.keep(revokedKey(row), row.expiresAt.getTime());
  }

  /** Keeps a revoked token until it expires, no later than a token can: its issuer says when. */
  private keep(key: string, expiresAt: number): void {
    this.revoked.set(key, Math.min(expiresAt, Date.now() + MAX_TOKEN_LIFETIME_MS));
  }

  /** A catalog entry changed: it, and every page, are read again. */
  private forgetEntry(id: string): void {
    this.catalogChanges++;
    this.entries.delete(id);
    this.forgetPages();
  }

  private forgetEntries(): void {
    this.catalogChanges++;
    this.entries.clear();
    this.forgetPages();
  }

  private forgetPages(): void {
    this.pages.clear();
    this.pagedIds = 0;
  }
}

/** Notifies `DIRECTORY_CHANNEL` of each payload when the transaction commits. */
export async function notify(tx: Prisma.TransactionClient, payloads: readonly string[]): Promise<void> {
  if (payloads.length > 0) await tx.$executeRaw`SELECT pg_notify(${DIRECTORY_CHANNEL}, payload) FROM unnest(${payloads}::text[]) AS payload`;
}
