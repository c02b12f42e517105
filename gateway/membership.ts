import { buildSubgraphSchema } from '@apollo/subgraph';
import {
  isTypeDefinitionNode,
  isTypeExtensionNode,
  parse,
  print,
  specifiedDirectives,
  visit,
  type ASTNode,
  type DocumentNode,
  type EnumValueDefinitionNode,
  type FieldDefinitionNode,
  type InputValueDefinitionNode,
  type TypeDefinitionNode,
  type TypeExtensionNode,
} from 'graphql';
import { servedSdl } from '../lib/graphql/service-query.ts';
import { typePrefix } from '../lib/ids.ts';
import { orgNames, type OrgNames } from '../subgraphs/org/names.ts';
import { orgSdl } from '../subgraphs/org/schema.ts';

/**
 * The versions of the twinx organization template this gateway composes members from, newest
 * first. A member's version is never what it declares but the one its SDL matches: a declared
 * version would be one more thing a member could lie about. Version 1 is today's `orgSdl`. When
 * the template changes in a way members cannot all follow at once, freeze the SDL of the version
 * they serve here under its number and add the new one first.
 */
export const TEMPLATE_VERSIONS: readonly { version: number; sdl: (names: OrgNames) => string }[] = [{ version: 1, sdl: orgSdl }];

/** What a gateway makes of a member's SDL. */
export type MemberCheck = { accepted: true; version: number } | { accepted: false; reason: string };

/** One field, enum value or input field, printed for comparison. */
interface Part {
  printed: string;
  node: ASTNode;
}

/** A named type as an SDL declares it, its definition and extensions taken together. */
interface TypeShape {
  kind: string;
  /** Declared by a definition, not only by extensions. */
  defined: boolean;
  /** Type-level directives, interfaces and union members, sorted and joined. */
  head: string;
  /** Fields, enum values or input fields by name. */
  members: Map<string, Part>;
  nodes: ASTNode[];
}

/** An SDL taken apart for comparison with the template. */
interface SdlShape {
  /** Schema-level directives and root operation types (`@link(…)`, `query: Query`). */
  schema: Set<string>;
  directives: Map<string, string>;
  types: Map<string, TypeShape>;
  /** What is wrong whatever the template: executable definitions, a member declared twice, one name with two kinds. */
  problems: string[];
}

/**
 * Descriptions are left out of every comparison: they change neither what is composed nor
 * where a field is resolved, and a reworded template must not refuse members that have not
 * upgraded yet. (Where members disagree on a shared type's description, composition keeps the
 * most common one.)
 */
function withoutDescriptions(document: DocumentNode): DocumentNode {
  return visit(document, { enter: (node) => ('description' in node && node.description ? { ...node, description: undefined } : undefined) });
}

function headOf(node: TypeDefinitionNode | TypeExtensionNode): string[] {
  return [
    ...(node.directives ?? []).map(print),
    ...('interfaces' in node ? (node.interfaces ?? []) : []).map((type) => `implements ${type.name.value}`),
    ...('types' in node ? (node.types ?? []) : []).map((type) => `= ${type.name.value}`),
  ];
}

function membersOf(node: TypeDefinitionNode | TypeExtensionNode): readonly (FieldDefinitionNode | InputValueDefinitionNode | EnumValueDefinitionNode)[] {
  if ('fields' in node) return node.fields ?? [];
  if ('values' in node) return node.values ?? [];
  return [];
}

function shapeOf(document: DocumentNode): SdlShape {
  const shape: SdlShape = { schema: new Set(), directives: new Map(), types: new Map(), problems: [] };
  const heads = new Map<string, string[]>();
  for (const definition of withoutDescriptions(document).definitions) {
    if (definition.kind === 'SchemaDefinition' || definition.kind === 'SchemaExtension') {
      for (const directive of definition.directives ?? []) shape.schema.add(print(directive));
      for (const root of definition.operationTypes ?? []) shape.schema.add(`${root.operation}: ${root.type.name.value}`);
    } else if (definition.kind === 'DirectiveDefinition') {
      shape.directives.set(definition.name.value, print(definition));
    } else if (isTypeDefinitionNode(definition) || isTypeExtensionNode(definition)) {
      const name = definition.name.value;
      // `ObjectTypeDefinition` and `ObjectTypeExtension` are both an `ObjectType`.
      const kind = definition.kind.replace(/(Definition|Extension)$/, '');
      let type = shape.types.get(name);
      if (type === undefined) shape.types.set(name, (type = { kind, defined: false, head: '', members: new Map(), nodes: [] }));
      else if (type.kind !== kind) shape.problems.push(`declares ${name} as both ${type.kind} and ${kind}`);
      type.defined ||= isTypeDefinitionNode(definition);
      type.nodes.push(definition);
      heads.set(name, [...(heads.get(name) ?? []), ...headOf(definition)]);
      for (const member of membersOf(definition)) {
        if (type.members.has(member.name.value)) shape.problems.push(`declares ${name}.${member.name.value} twice`);
        type.members.set(member.name.value, { printed: print(member), node: member });
      }
    } else {
      shape.problems.push(`holds an executable definition (${definition.kind})`);
    }
  }
  for (const [name, head] of heads) shape.types.get(name)!.head = head.sort().join(' ');
  return shape;
}

/** Directives a member may put on what it adds: GraphQL's own (`@deprecated`, `@specifiedBy`…), none of federation's. */
const STANDARD_DIRECTIVES = new Set(specifiedDirectives.map((directive) => directive.name));

function directiveProblems(where: string, nodes: readonly ASTNode[]): string[] {
  const found = new Set<string>();
  for (const node of nodes)
    visit(node, {
      Directive: (directive) => {
        if (!STANDARD_DIRECTIVES.has(directive.name.value)) found.add(directive.name.value);
      },
    });
  return [...found].map((name) => `${where} carries @${name} (what a member adds carries no federation directive)`);
}

/** A template version for one slug: as written, as a subgraph serves it, and the types the member may add fields to. */
interface Template {
  version: number;
  written: SdlShape;
  served: SdlShape;
  ownObjectTypes: Set<string>;
}

const templatesBySlug = new Map<string, Template[]>();

function templatesFor(slug: string): Template[] {
  let templates = templatesBySlug.get(slug);
  if (templates === undefined) {
    const names = orgNames(slug);
    templates = TEMPLATE_VERSIONS.map(({ version, sdl }) => {
      const document = parse(sdl(names));
      return {
        version,
        written: shapeOf(document),
        // As `@apollo/subgraph` serves it: with federation's own directive definitions, `_entities`,
        // `_service` and their types, which a member may serve too.
        served: shapeOf(parse(servedSdl(buildSubgraphSchema(document)))),
        ownObjectTypes: new Set([names.twin, names.query, names.mutation, names.connection, names.edge]),
      };
    });
    templatesBySlug.set(slug, templates);
  }
  return templates;
}

function typeProblems(name: string, type: TypeShape, expected: TypeShape, extensible: boolean): string[] {
  if (type.kind !== expected.kind) return [`declares ${name} as ${type.kind}, the template as ${expected.kind}`];
  const problems: string[] = [];
  if (type.head !== expected.head) problems.push(`changes the directives, interfaces or members of ${name} to "${type.head}"`);
  for (const [field, part] of type.members) {
    const wanted = expected.members.get(field);
    if (wanted?.printed === part.printed) continue;
    if (wanted !== undefined) problems.push(`changes ${name}.${field} to "${part.printed}"`);
    else if (!extensible) problems.push(`adds ${name}.${field} (only its own object types take new fields)`);
    else problems.push(...directiveProblems(`${name}.${field}`, [part.node]));
  }
  return problems;
}

/**
 * Everything in which `member` is not the template: nothing but what the template has, as it
 * has it, plus fields on the organization's own object types and types of its own namespace,
 * neither carrying any federation directive.
 *
 * The namespace of new types is `<Prefix>_*` (`Acme_Gauge`): a slug holds no `_`, so what comes
 * before the first `_` names exactly one slug whoever else is a member. Without the separator,
 * `AcmeFooGauge` could be acme's `FooGauge` or acme-foo's `Gauge`, and who may declare it would
 * change as members join. The template's own names (`AcmeTwin`) are distinct per slug already.
 */
function problemsAgainst({ written, served, ownObjectTypes }: Template, prefix: string, member: SdlShape): string[] {
  const problems = [...member.problems];
  for (const [name, type] of member.types) {
    const expected = served.types.get(name);
    if (!type.defined) problems.push(`extends ${name} without defining it`);
    if (expected !== undefined) problems.push(...typeProblems(name, type, expected, ownObjectTypes.has(name)));
    else if (!name.startsWith(`${prefix}_`)) problems.push(`declares ${name}, outside its namespace (${prefix}_*)`);
    else problems.push(...directiveProblems(name, type.nodes));
  }
  for (const [name, type] of written.types) {
    const served = member.types.get(name);
    if (served === undefined) problems.push(`lacks ${name}`);
    else for (const field of type.members.keys()) if (!served.members.has(field)) problems.push(`lacks ${name}.${field}`);
  }
  for (const entry of member.schema) if (!served.schema.has(entry)) problems.push(`declares schema ${entry}, not the template's`);
  for (const entry of written.schema) if (!member.schema.has(entry)) problems.push(`lacks the template's schema ${entry}`);
  for (const [name, printed] of member.directives) if (served.directives.get(name) !== printed) problems.push(`defines directive @${name}`);
  return problems;
}

function summary(problems: string[]): string {
  const shown = problems.slice(0, 5).join('; ');
  return problems.length > 5 ? `${shown}; and ${problems.length - 5} more` : shown;
}

/**
 * Checks the SDL a member serves against the twinx organization template for its slug
 * (ARCHITECTURE.md, "Trust between members"): a member contributes its own namespaced types and
 * root field and the shared value types exactly as the template has them, and may add fields to
 * its own object types and types named `<Prefix>_…`, without federation directives. Anything
 * else (`@override`, `@interfaceObject`, `@requires`/`@external`/`@provides` on types it does not
 * own, other root fields, a changed shared type, another `@link`, directive definitions of its
 * own, `Subscription`…) refuses the member, with the reason.
 *
 * @returns the template version the SDL matches, or why it matches none (naming the versions tried).
 */
export function checkMemberSdl(slug: string, sdl: string): MemberCheck {
  let member: SdlShape;
  try {
    member = shapeOf(parse(sdl));
  } catch (error) {
    return { accepted: false, reason: `its SDL does not parse: ${error instanceof Error ? error.message : String(error)}` };
  }
  const tried: string[] = [];
  for (const template of templatesFor(slug)) {
    const problems = problemsAgainst(template, typePrefix(slug), member);
    if (problems.length === 0) return { accepted: true, version: template.version };
    tried.push(`v${template.version}: ${summary(problems)}`);
  }
  return { accepted: false, reason: `matches no twinx template version (${tried.join('; ')})` };
}

/** The SDL a gateway composes for a member it cannot reach: the newest template (every organization runs the same subgraph). */
export function templateSdl(slug: string): { sdl: string; version: number } {
  const [newest] = TEMPLATE_VERSIONS;
  return { sdl: newest!.sdl(orgNames(slug)), version: newest!.version };
}
