import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textWhere } from '../../lib/db/like.ts';
import { reachWhere } from '../../lib/tokens/reach.ts';
import { matchesSelector, selectorSchema, type TwinSelector } from '../../lib/tokens/selector.ts';
import { createDirectoryDb, type DirectoryDb } from '../../subgraphs/directory/db.ts';
import { Access } from '../../subgraphs/org/access.ts';
import { createOrgDb, type OrgDb } from '../../subgraphs/org/db.ts';
import { createStore, Disposers } from '../support/services.ts';

/**
 * The SQL forms of a selector (an organization's `Access.twinWhere`, the directory's
 * `reachWhere` over its catalog) select exactly the twins the in-memory matcher accepts, on
 * real Postgres stores. Ids are drawn from a small alphabet holding `_` and `-` so that globs,
 * and LIKE's wildcards, hit often.
 */

const disposers = new Disposers();
let org: OrgDb;
let directory: DirectoryDb;

beforeAll(async () => {
  const [orgStore, directoryStore] = await Promise.all([createStore('org'), createStore('directory')]);
  disposers.add(orgStore.drop);
  disposers.add(directoryStore.drop);
  org = createOrgDb({ databaseUrl: orgStore.url, poolSize: 2 });
  directory = createDirectoryDb({ databaseUrl: directoryStore.url, poolSize: 2 });
  disposers.add(() => org.$disconnect());
  disposers.add(() => directory.$disconnect());
});
afterAll(() => disposers.dispose());

const KINDS = ['press', 'mill', 'oven'];
const TAGS = ['line-1', 'line_1', 'Line-1', 'critical'];
const chars = (alphabet: string) => fc.constantFrom(...alphabet.split(''));
/** Local ids: a letter or digit, then letters, digits, `_` and `-` (lib/ids.ts). */
const localId = fc.tuple(chars('aX1'), fc.string({ unit: chars('aX1_-'), maxLength: 4 })).map(([first, rest]) => first + rest);
const twin = fc.record({ local: localId, kind: fc.constantFrom(...KINDS), tags: fc.subarray(TAGS) });
const twins = fc.uniqueArray(twin, { selector: (t) => t.local, maxLength: 12 });
/** Glob parts may also hold `.`, which ids never do. */
const globPart = fc.string({ unit: chars('aX1_-.'), maxLength: 3 });
const glob = fc.oneof(
  globPart.map((prefix) => `acme:${prefix}*`),
  globPart.map((suffix) => `acme:*${suffix}`),
);
const schema = selectorSchema('acme');
const selector = fc
  .record({
    ids: fc.array(
      localId.map((id) => `acme:${id}`),
      { maxLength: 3 },
    ),
    idGlobs: fc.array(glob, { maxLength: 2 }),
    kinds: fc.subarray(KINDS, { maxLength: 2 }),
    tags: fc.subarray(TAGS, { maxLength: 2 }),
  })
  // Only what a grant can carry.
  .filter((s) => schema.safeParse(s).success);
const selectors = fc.array(selector, { minLength: 1, maxLength: 3 });

type Twin = { local: string; kind: string; tags: string[] };

/** Stores the twins at acme, and in the catalog with the same local ids at another organization. */
async function store(list: Twin[]): Promise<void> {
  const entries = (slug: string) =>
    list.map((t) => ({ id: `${slug}:${t.local}`, org: slug, name: `Name ${t.local}`, kind: t.kind, tags: t.tags, suppliedByIds: [], updatedAt: new Date() }));
  await Promise.all([
    org.$transaction([
      org.twin.deleteMany(),
      org.twin.createMany({ data: list.map((t) => ({ id: t.local, name: `Name ${t.local}`, kind: t.kind, tags: t.tags })) }),
    ]),
    directory.$transaction([directory.catalogTwin.deleteMany(), directory.catalogTwin.createMany({ data: [...entries('acme'), ...entries('globex')] })]),
  ]);
}

const sorted = (ids: string[]) => [...ids].sort();

function accepted(list: Twin[], grants: TwinSelector[]): string[] {
  return sorted(list.filter((t) => grants.some((s) => matchesSelector(s, { id: `acme:${t.local}`, kind: t.kind, tags: t.tags }))).map((t) => t.local));
}

describe('selectors in SQL', () => {
  it('select at an organization and in the directory exactly the twins matchesSelector accepts', async () => {
    await fc.assert(
      fc.asyncProperty(twins, selectors, async (list, grants) => {
        await store(list);
        const expected = accepted(list, grants);
        const access = new Access({ kind: 'partner', subject: 'globex', scopes: new Map([['twins:read', grants]]), tokenIds: [] }, 'acme');
        const atOrg = await org.twin.findMany({ where: access.twinWhere('twins:read'), select: { id: true } });
        expect(sorted(atOrg.map((row) => row.id))).toEqual(expected);
        const inCatalog = await directory.catalogTwin.findMany({ where: reachWhere(new Map([['acme', grants]])), select: { id: true } });
        expect(sorted(inCatalog.map((row) => row.id))).toEqual(expected.map((id) => `acme:${id}`));
      }),
      { numRuns: 80 },
    );
  });

  it('text filters select the twins whose id or name holds the text, whatever the case, wildcards included', async () => {
    const text = fc.string({ unit: chars('aAx1_-%\\ '), minLength: 1, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(twins, text, async (list, needle) => {
        await store(list);
        const holds = (value: string) => value.toLowerCase().includes(needle.toLowerCase());
        const expected = sorted(list.filter((t) => holds(t.local) || holds(`Name ${t.local}`)).map((t) => t.local));
        const rows = await org.twin.findMany({ where: textWhere(needle), select: { id: true } });
        expect(sorted(rows.map((row) => row.id))).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });
});
