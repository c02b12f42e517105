import { z } from 'zod';
import { likeLiteral } from '../db/like.ts';
import { parseTwinId } from '../ids.ts';

/**
 * Which twins a grant reaches. Within a field the values are alternatives; the fields that are
 * given must all match (`kinds: [press], tags: [line-2]` = presses tagged line-2). `ids` and
 * `idGlobs` together are one criterion: the twin's id is listed or matches a glob.
 */
export interface TwinSelector {
  ids: string[];
  /** Global id patterns with one `*` at the start or the end of the local id: `acme:press-*`, `acme:*-7`; `acme:*` is every twin. */
  idGlobs: string[];
  kinds: string[];
  tags: string[];
}

/** What a selector is matched against. */
export interface SelectableTwin {
  /** Global id. */
  id: string;
  kind: string;
  tags: readonly string[];
}

const list = <T extends z.ZodType>(item: T) => z.array(item).max(100).default([]);

/** A selector for the twins of `org`: ids and globs must be that organization's. */
export function selectorSchema(org: string) {
  const ownId = z.string().refine((id) => parseTwinId(id)?.org === org, `expected an id of ${org}: ${org}:<local-id>`);
  const ownGlob = z.string().refine((glob) => glob.startsWith(`${org}:`) && /^(\*[A-Za-z0-9._-]*|[A-Za-z0-9._-]*\*)$/.test(glob.slice(org.length + 1)), {
    message: `expected ${org}:<prefix>* or ${org}:*<suffix>`,
  });
  return z
    .object({ ids: list(ownId), idGlobs: list(ownGlob), kinds: list(z.string().min(1).max(64)), tags: list(z.string().min(1).max(64)) })
    .strict()
    .refine((s) => s.ids.length + s.idGlobs.length + s.kinds.length + s.tags.length > 0, 'a selector names at least one id, glob, kind or tag');
}

/** The part of an id glob before and after its `*`. */
export function globParts(glob: string): [prefix: string, suffix: string] {
  const star = glob.indexOf('*');
  return [glob.slice(0, star), glob.slice(star + 1)];
}

function matchesGlob(id: string, glob: string): boolean {
  const [prefix, suffix] = globParts(glob);
  return id.length >= prefix.length + suffix.length && id.startsWith(prefix) && id.endsWith(suffix);
}

export function matchesSelector(selector: TwinSelector, twin: SelectableTwin): boolean {
  const byId =
    selector.ids.length + selector.idGlobs.length === 0 || selector.ids.includes(twin.id) || selector.idGlobs.some((glob) => matchesGlob(twin.id, glob));
  const byKind = selector.kinds.length === 0 || selector.kinds.includes(twin.kind);
  const byTag = selector.tags.length === 0 || selector.tags.some((tag) => twin.tags.includes(tag));
  return byId && byKind && byTag;
}

/**
 * A selector as a Prisma `where` over a model with `id`, `kind` and `tags` (an organization's
 * twins, the directory's catalog), selecting exactly what {@link matchesSelector} accepts.
 * `idOf` maps a global id to the model's id.
 */
export function selectorWhere(selector: TwinSelector, idOf: (globalId: string) => string = (id) => id) {
  type Condition = {
    id?: { in: string[] } | { startsWith: string } | { endsWith: string };
    kind?: { in: string[] };
    tags?: { hasSome: string[] };
    AND?: Condition[];
    OR?: Condition[];
  };
  const and: Condition[] = [];
  // Both parts, always: in the catalog a suffix glob's prefix is the organization (`acme:*-7`).
  // They cannot overlap in an id (one of them is `<org>:` or empty), so matchesGlob's length
  // condition holds by itself.
  const byId: Condition[] = selector.idGlobs.map((glob) => {
    const [prefix, suffix] = globParts(idOf(glob));
    return { AND: [{ id: { startsWith: likeLiteral(prefix) } }, { id: { endsWith: likeLiteral(suffix) } }] };
  });
  if (selector.ids.length > 0) byId.push({ id: { in: selector.ids.map(idOf) } });
  if (byId.length > 0) and.push({ OR: byId });
  if (selector.kinds.length > 0) and.push({ kind: { in: selector.kinds } });
  if (selector.tags.length > 0) and.push({ tags: { hasSome: selector.tags } });
  return { AND: and };
}
