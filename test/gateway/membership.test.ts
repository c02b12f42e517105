import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphqlSync, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkMemberSdl } from '../../gateway/membership.ts';
import { orgNames } from '../../subgraphs/org/names.ts';
import { orgSdl } from '../../subgraphs/org/schema.ts';

const TEMPLATE_LINK = 'import: ["@key", "@shareable"]';

/** The SDL a subgraph built from `sdl` serves in `_service { sdl }`. */
function served(sdl: string): string {
  return (graphqlSync({ schema: buildSubgraphSchema(parse(sdl)), source: '{ _service { sdl } }' }).data as { _service: { sdl: string } })._service.sdl;
}

/** mallory's template with more SDL after it, importing more federation directives if asked; as its subgraph would serve it. */
function mallory(extra: string, imports: string[] = []): string {
  const template = orgSdl(orgNames('mallory')).replace(TEMPLATE_LINK, `import: ${JSON.stringify(['@key', '@shareable', ...imports])}`);
  return served(`${template}\n${extra}`);
}

function refusal(sdl: string, slug = 'mallory'): string {
  const check = checkMemberSdl(slug, sdl);
  if (check.accepted) throw new Error(`accepted as template v${check.version}`);
  return check.reason;
}

describe('checkMemberSdl: what a member may serve', () => {
  it('accepts the template of any slug, as written and as a subgraph serves it, as version 1', () => {
    for (const slug of ['acme', 'acme-foo', 'globex-steel2', 'mallory']) {
      expect(checkMemberSdl(slug, orgSdl(orgNames(slug)))).toEqual({ accepted: true, version: 1 });
      expect(checkMemberSdl(slug, served(orgSdl(orgNames(slug))))).toEqual({ accepted: true, version: 1 });
    }
  });

  it('accepts the template with its descriptions changed', () => {
    const reworded = orgSdl(orgNames('acme')).replace('"A twin\'s live state: the latest reading of every metric and the resulting status."', '"Reworded."');
    expect(reworded).toContain('"Reworded."');
    expect(checkMemberSdl('acme', served(reworded))).toEqual({ accepted: true, version: 1 });
  });

  it('accepts additions inside its namespace: fields on its own object types, types named <Prefix>_…, GraphQL’s own directives', () => {
    const additions = `
      extend type MalloryTwin { gauge: Mallory_Gauge "Old." tonnage: Int @deprecated(reason: "use gauge") }
      extend type MalloryQuery { gauges(mode: Mallory_Mode = FAST, filter: Mallory_Filter): [Mallory_Reading!]! }
      extend type MalloryMutation { calibrate(id: ID!): Boolean }
      extend type MalloryTwinConnection { total: Int }
      type Mallory_Gauge implements Mallory_Node { id: ID! value: Float }
      interface Mallory_Node { id: ID! }
      enum Mallory_Mode { FAST SLOW }
      input Mallory_Filter { min: Float }
      union Mallory_Reading = Mallory_Gauge | MalloryTwin
      scalar Mallory_Unit`;
    expect(checkMemberSdl('mallory', mallory(additions))).toEqual({ accepted: true, version: 1 });
  });

  it('refuses @override of another member’s field, with @requires on its private fields (the attack found)', () => {
    const reason = refusal(
      mallory(
        `type AcmeTwin @key(fields: "id") { id: ID! attributes: JSON @external description: String @external name: String @override(from: "acme") @requires(fields: "attributes description") }`,
        ['@override', '@requires', '@external'],
      ),
    );
    expect(reason).toMatch(/^matches no twinx template version \(v1: /);
    expect(reason).toContain('declares schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable", "@override"');
    // Without importing anything, through federation's namespaced names.
    expect(refusal(mallory(`type AcmeTwin @key(fields: "id") { id: ID! name: String @federation__override(from: "acme") }`))).toContain(
      'declares AcmeTwin, outside its namespace (Mallory_*)',
    );
  });

  it('refuses federation directives on its own template fields and on what it adds', () => {
    const own = orgSdl(orgNames('mallory')).replace('    name: String\n', '    name: String @federation__override(from: "acme")\n');
    expect(refusal(served(own))).toContain('changes MalloryTwin.name to "name: String @federation__override(from: "acme")"');
    // As written: @apollo/subgraph would not even build this one.
    expect(refusal(`${orgSdl(orgNames('mallory'))}\nextend type MalloryTwin { copy: String @federation__requires(fields: "name") }`)).toContain(
      'MalloryTwin.copy carries @federation__requires',
    );
    expect(refusal(mallory(`extend type MalloryQuery { hidden(x: Int @federation__inaccessible): Int }`))).toContain(
      'MalloryQuery.hidden carries @federation__inaccessible',
    );
    expect(refusal(mallory(`type Mallory_Gauge @shareable { v: Float @federation__tag(name: "x") }`))).toMatch(
      /Mallory_Gauge carries @(shareable|federation__tag)/,
    );
    expect(refusal(mallory(`type Mallory_Thing @key(fields: "id") { id: ID! }`))).toContain('Mallory_Thing carries @key');
  });

  it('refuses @requires, @external and @provides aimed at a type it does not own', () => {
    expect(
      refusal(
        mallory(`type AcmeTwin @key(fields: "id") { id: ID! attributes: JSON @external leak: String @requires(fields: "attributes") }`, [
          '@requires',
          '@external',
        ]),
      ),
    ).toContain('declares AcmeTwin, outside its namespace');
    const provides = refusal(
      mallory(`extend type MalloryQuery { buddy: AcmeTwin @provides(fields: "name") } type AcmeTwin @key(fields: "id") { id: ID! name: String @external }`, [
        '@provides',
        '@external',
      ]),
    );
    expect(provides).toContain('MalloryQuery.buddy carries @provides');
    expect(provides).toContain('declares AcmeTwin, outside its namespace');
  });

  it('refuses @interfaceObject Twin and types outside its namespace, including one that reads as another slug’s', () => {
    expect(refusal(mallory(`type Twin @key(fields: "id") @interfaceObject { id: ID! score: Int }`, ['@interfaceObject']))).toContain(
      'declares Twin, outside its namespace (Mallory_*)',
    );
    expect(refusal(mallory(`type Gauge { v: Float }`))).toContain('declares Gauge, outside its namespace (Mallory_*)');
    // `MalloryLabsGauge` could be mallory's `LabsGauge` or mallory-labs' `Gauge`: neither may take it.
    expect(refusal(mallory(`type MalloryLabsGauge { v: Float }`))).toContain('declares MalloryLabsGauge, outside its namespace (Mallory_*)');
    expect(refusal(mallory(`type MalloryLabs_Gauge { v: Float }`))).toContain('declares MalloryLabs_Gauge, outside its namespace (Mallory_*)');
    expect(refusal(served(orgSdl(orgNames('mallory-labs'))))).toContain('declares MalloryLabsQuery, outside its namespace');
  });

  it('refuses a shared type changed: a field added, a nullability changed, a value added', () => {
    expect(refusal(mallory(`extend type TwinState { secret: String }`))).toContain('adds TwinState.secret (only its own object types take new fields)');
    const nullable = orgSdl(orgNames('mallory')).replace('status: TwinStatus!', 'status: TwinStatus');
    expect(refusal(served(nullable))).toContain('changes TwinState.status to "status: TwinStatus"');
    expect(refusal(mallory(`extend enum TwinStatus { PWNED }`))).toContain('adds TwinStatus.PWNED');
    expect(refusal(mallory(`extend input TwinInput { owner: String }`))).toContain('adds TwinInput.owner');
  });

  it('refuses root fields and root types other than the template’s, and Subscription', () => {
    expect(refusal(mallory(`extend type Query { everything: [MalloryTwin!]! }`))).toContain('adds Query.everything');
    expect(refusal(mallory(`extend type Mutation { reset: Boolean }`))).toContain('adds Mutation.reset');
    expect(refusal(mallory(`type Subscription { twinEvents: MalloryTwin }`))).toContain('declares Subscription, outside its namespace');
    expect(refusal(`${orgSdl(orgNames('mallory'))}\nschema { query: MalloryQuery }`)).toContain('declares schema query: MalloryQuery');
  });

  it('refuses another @link, schema extensions and directive definitions of its own', () => {
    expect(refusal(mallory('', ['@inaccessible']))).toContain(
      'declares schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable", "@inaccessible"]), not the template\'s',
    );
    const newer = orgSdl(orgNames('mallory')).replace('federation/v2.3', 'federation/v2.5');
    expect(refusal(served(newer))).toContain('lacks the template\'s schema @link(url: "https://specs.apollo.dev/federation/v2.3"');
    expect(refusal(`${orgSdl(orgNames('mallory'))}\nextend schema @link(url: "https://specs.apollo.dev/tag/v0.3")`)).toContain(
      'declares schema @link(url: "https://specs.apollo.dev/tag/v0.3")',
    );
    expect(refusal(`${orgSdl(orgNames('mallory'))}\ndirective @mine on FIELD_DEFINITION`)).toContain('defines directive @mine');
  });

  it('refuses an SDL that does not parse, lacks part of the template, or holds operations', () => {
    expect(refusal('type MalloryTwin {')).toMatch(/^its SDL does not parse: Syntax Error/);
    expect(refusal(orgSdl(orgNames('mallory')).replace('    description: String\n', ''))).toContain('lacks MalloryTwin.description');
    expect(refusal(orgSdl(orgNames('mallory')).replace(/type MalloryMutation \{[^}]*\}/, ''))).toContain('extends MalloryMutation without defining it');
    expect(refusal(`${orgSdl(orgNames('mallory'))}\nquery Steal { __typename }`)).toContain('holds an executable definition (OperationDefinition)');
    expect(refusal(`${orgSdl(orgNames('mallory'))}\nextend type Mallory_Gauge { v: Float }`)).toContain('extends Mallory_Gauge without defining it');
  });

  it('says how many problems it did not list', () => {
    const reason = refusal(served(orgSdl(orgNames('globex'))));
    expect(reason).toMatch(/; and \d+ more\)$/);
  });
});
