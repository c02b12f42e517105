import { describe, expect, it } from 'vitest';
import { MemberAnswers, parseSubgraphOperation, placeError } from '../../gateway/answers.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { orgSdl } from '../../subgraphs/org/schema.ts';

/** mallory's template with additions that put its twins behind an abstract type and another object. */
const answers = new MemberAnswers(
  'mallory',
  `${orgSdl(orgNames('mallory'))}
  type Mallory_Gauge { id: ID! twin: MalloryTwin }
  union Mallory_Found = MalloryTwin | Mallory_Gauge
  extend type MalloryQuery { found: [Mallory_Found!]! }`,
);

function problemIn(query: string, data: unknown) {
  return answers.problemIn(parseSubgraphOperation(query), data);
}

const ENTITIES = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on MalloryTwin { __typename id name } } }`;

describe('MemberAnswers: what a member may say in its answers', () => {
  it('lets through twins of its own with its own ids, nulls, and fields skipped', () => {
    const list = `{ mallory { twins { edges { node { id name } } } } }`;
    const own = { mallory: { twins: { edges: [{ node: { id: 'mallory:a', name: 'A' } }, { node: null }] } } };
    expect(problemIn(list, own)).toBeUndefined();
    expect(problemIn(list, null)).toBeUndefined();
    expect(problemIn(list, { mallory: null })).toBeUndefined();
    expect(
      problemIn(`query($no: Boolean!) { mallory { twin(id: "mallory:a") { id name @include(if: $no) } } }`, { mallory: { twin: { id: 'mallory:a' } } }),
    ).toBeUndefined();
    expect(problemIn(ENTITIES, { _entities: [{ __typename: 'MalloryTwin', id: 'mallory:a', name: 'A' }, null] })).toBeUndefined();
  });

  it('refuses anything it was not asked, at the root, in an entity and deeper: Apollo’s gateway would merge it over others’ answers', () => {
    const twin = `{ mallory { twin(id: "mallory:a") { name state { status } } } }`;
    expect(problemIn(twin, { mallory: { twin: { name: 'A', id: 'acme:press-1' } } })).toEqual({
      what: 'answers "id", which it was not asked',
      path: ['mallory', 'twin', 'id'],
    });
    expect(problemIn(twin, { mallory: { twin: { name: 'A' } }, acme: { twin: { name: 'pwned' } } })?.path).toEqual(['acme']);
    expect(problemIn(twin, { mallory: { twin: { name: 'A', state: { status: 'OK', org: 'acme' } } } })?.path).toEqual(['mallory', 'twin', 'state', 'org']);
    // The directory gives an entity its id and organization: a member may not say them over it.
    expect(problemIn(ENTITIES, { _entities: [{ __typename: 'MalloryTwin', id: 'mallory:a', name: 'A', org: { slug: 'acme' } }] })?.path).toEqual([
      '_entities',
      0,
      'org',
    ]);
    // A key selected twice (directives keep the planner from merging them) merges both selections, as GraphQL does.
    const twice = `query($a: Boolean!, $b: Boolean!) { mallory { twin(id: "mallory:a") { state @include(if: $a) { status } state @include(if: $b) { updatedAt } } } }`;
    expect(problemIn(twice, { mallory: { twin: { state: { status: 'OK', updatedAt: 'now' } } } })).toBeUndefined();
    expect(problemIn(twice, { mallory: { twin: { state: { status: 'OK', updatedAt: 'now', org: 'acme' } } } })?.path).toEqual([
      'mallory',
      'twin',
      'state',
      'org',
    ]);
    // A key selected only for another type under an abstract one is not this object's.
    const found = `{ mallory { found { __typename ... on Mallory_Gauge { id } ... on MalloryTwin { name } } } }`;
    expect(
      problemIn(found, {
        mallory: {
          found: [
            { __typename: 'MalloryTwin', name: 'A' },
            { __typename: 'Mallory_Gauge', id: 'g' },
          ],
        },
      }),
    ).toBeUndefined();
    expect(problemIn(found, { mallory: { found: [{ __typename: 'MalloryTwin', name: 'A', id: 'acme:press-1' }] } })?.path).toEqual([
      'mallory',
      'found',
      0,
      'id',
    ]);
  });

  it('finds another organization’s id in a list, under an alias, through inline fragments and fragment spreads', () => {
    expect(
      problemIn(`{ mallory { twins { edges { node { id } } } } }`, {
        mallory: { twins: { edges: [{ node: { id: 'mallory:a' } }, { node: { id: 'acme:press-1' } }] } },
      }),
    ).toEqual({ what: 'answers a twin with the id "acme:press-1"', path: ['mallory', 'twins', 'edges', 1, 'node', 'id'] });
    expect(problemIn(`{ mallory { twin(id: "mallory:a") { key: id } } }`, { mallory: { twin: { key: 'acme:press-1' } } })?.path).toEqual([
      'mallory',
      'twin',
      'key',
    ]);
    const fragments = `{ mallory { twin(id: "mallory:a") { ... on MalloryTwin { ...Ids } } } } fragment Ids on MalloryTwin { other: id }`;
    expect(problemIn(fragments, { mallory: { twin: { other: 'acme:press-1' } } })?.path).toEqual(['mallory', 'twin', 'other']);
    // An id that merely starts like mallory's is another organization's.
    expect(problemIn(`{ mallory { twin(id: "x") { id } } }`, { mallory: { twin: { id: 'mallory-labs:a' } } })?.what).toContain('mallory-labs:a');
  });

  it('finds another organization’s id in _entities, with or without __typename', () => {
    expect(
      problemIn(ENTITIES, {
        _entities: [
          { __typename: 'MalloryTwin', id: 'mallory:a' },
          { __typename: 'MalloryTwin', id: 'acme:press-1' },
        ],
      })?.path,
    ).toEqual(['_entities', 1, 'id']);
    // Without __typename the gateway takes the entity for its representation's type: mallory's twin type.
    expect(problemIn(ENTITIES, { _entities: [{ id: 'acme:press-1', name: 'pwned' }] })?.path).toEqual(['_entities', 0, 'id']);
  });

  it('refuses an object of a type its schema has no place for there', () => {
    // Merged into acme's twin by the gateway if let through.
    expect(problemIn(ENTITIES, { _entities: [{ __typename: 'AcmeTwin', id: 'mallory:a', name: 'pwned' }] })).toEqual({
      what: 'answers a AcmeTwin where its schema has _Entity',
      path: ['_entities', 0],
    });
    expect(problemIn(`{ mallory { twin(id: "x") { __typename id } } }`, { mallory: { twin: { __typename: 'Mallory_Gauge', id: 'mallory:a' } } })?.what).toBe(
      'answers a Mallory_Gauge where its schema has MalloryTwin',
    );
    expect(problemIn(`{ mallory { twins { edges { node { id } } } } }`, { mallory: { twins: { edges: 'all of them' } } })?.what).toBe(
      'answers something else than a list',
    );
  });

  it('follows abstract types by __typename, into other objects that hold twins', () => {
    const query = `{ mallory { found { __typename ... on Mallory_Gauge { id twin { id } } ... on MalloryTwin { id } } } }`;
    const gauge = (twin: string) => ({ __typename: 'Mallory_Gauge', id: 'acme:not-a-twin', twin: { id: twin } });
    expect(problemIn(query, { mallory: { found: [gauge('mallory:a'), { __typename: 'MalloryTwin', id: 'mallory:b' }] } })).toBeUndefined();
    expect(problemIn(query, { mallory: { found: [gauge('mallory:a'), { __typename: 'MalloryTwin', id: 'globex:b' }] } })?.path).toEqual([
      'mallory',
      'found',
      1,
      'id',
    ]);
    expect(problemIn(query, { mallory: { found: [gauge('globex:mill-1')] } })?.path).toEqual(['mallory', 'found', 0, 'twin', 'id']);
  });

  it('refuses to vouch for a field the schema it was composed from lacks', () => {
    expect(problemIn(`{ mallory { twin(id: "x") { id secret } } }`, { mallory: { twin: { id: 'mallory:a', secret: 1 } } })?.what).toBe(
      'is asked for MalloryTwin.secret, which the schema it was composed from lacks',
    );
  });
});

describe('placeError: where a subgraph’s error lands in the caller’s answer', () => {
  const entities = parseSubgraphOperation(ENTITIES);
  const root = parseSubgraphOperation(`{ mallory { twin(id: "mallory:a") { name } } }`);

  it('follows a path along what the operation selected', () => {
    expect(placeError(root, [], ['mallory', 'twin', 'name'], 0)).toEqual(['mallory', 'twin', 'name']);
    expect(placeError(entities, ['twin'], ['_entities', 0, 'name'], 1)).toEqual(['twin', 'name']);
  });

  it('places at the subgraph’s part a path that leaves it, or an item it was not sent', () => {
    expect(placeError(root, [], ['twins', 0], 0)).toEqual(['mallory']);
    expect(placeError(root, [], ['mallory', 'twin', 'description'], 0)).toEqual(['mallory']);
    expect(placeError(root, [], undefined, 0)).toEqual(['mallory']);
    expect(placeError(entities, ['twin'], ['_entities', 1, 'name'], 1)).toEqual(['twin']);
    expect(placeError(entities, ['twin'], ['_entities', 0, 'suppliedBy', 0, 'name'], 1)).toEqual(['twin']);
  });

  it('places the errors of a list’s entities at the list', () => {
    expect(placeError(entities, ['twins', 'edges', '@', 'node'], ['_entities', 0, 'name'], 2)).toEqual(['twins', 'edges']);
  });
});
