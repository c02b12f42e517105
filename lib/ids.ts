import { ErrorCode, fail } from './errors.ts';

/**
 * Organization slugs: lowercase words joined by hyphens, each word starting with a letter.
 * The GraphQL names derived from a slug (`globex-steel` → `GlobexSteelTwin`, field
 * `globexSteel`) are then unique per slug, because an upper-case letter always marks the
 * start of a word.
 */
const SLUG = /^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$/;
const MAX_SLUG = 40;

/**
 * Slugs whose derived names would collide with the network graph's own root fields
 * (the directory owns `twins`, `twin`, `organizations`, `network`).
 */
const RESERVED_SLUGS = new Set(['twin', 'twins', 'organization', 'organizations', 'network', 'directory', 'query', 'mutation', 'subscription']);

/** The slug under which the network operator issues its administrators' tokens and signs its announcements (reserved for organizations). */
export const OPERATOR = 'network';

/** Suppliers a twin may name (`suppliedByIds`). */
export const MAX_SUPPLIERS = 100;

/** Local twin ids: what follows `<org>:` in a global id. No `.`: an id is one NATS subject token. */
const LOCAL_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function isValidSlug(slug: string): boolean {
  return slug.length <= MAX_SLUG && SLUG.test(slug) && !RESERVED_SLUGS.has(slug);
}

/** Throws `TypeError` (a configuration mistake, not a caller's) for an invalid slug. */
export function assertSlug(slug: string): string {
  if (!isValidSlug(slug)) {
    throw new TypeError(
      `invalid organization slug "${slug}": lowercase words joined by "-", each starting with a letter, at most ${MAX_SLUG} characters, not one of ${[...RESERVED_SLUGS].join(', ')}`,
    );
  }
  return slug;
}

export { fieldName, typePrefix } from './graphql/names.ts';

/** A global twin id, split. */
export interface TwinRef {
  org: string;
  localId: string;
}

/** Parses `<org>:<local-id>`; `null` when the id has the wrong shape. */
export function parseTwinId(id: string): TwinRef | null {
  const colon = id.indexOf(':');
  if (colon < 0) return null;
  const org = id.slice(0, colon);
  const localId = id.slice(colon + 1);
  return SLUG.test(org) && LOCAL_ID.test(localId) ? { org, localId } : null;
}

/** Parses a global id or throws `INVALID_INPUT` naming the argument. */
export function requireTwinId(id: string, argument: string): TwinRef {
  const ref = parseTwinId(id);
  if (!ref) throw fail(ErrorCode.INVALID_INPUT, `${argument}: "${id}" is not a twin id of the form <org>:<local-id>.`, { field: argument });
  return ref;
}

export function globalTwinId(org: string, localId: string): string {
  return `${org}:${localId}`;
}
