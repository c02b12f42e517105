import {
  isAbstractType,
  isObjectType,
  Kind,
  parse,
  print,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
} from 'graphql';

/**
 * Answers the gateway makes itself (live events, impact) carry twins, and their `twin { … }` is
 * read from the network graph with the caller's own tokens: the caller's selections become one
 * federated query, whose answer is then served under the gateway's own field.
 */

/** What `twin { … }` under one response key asks for (its field nodes taken together), as text. */
export function selectionText(nodes: readonly FieldNode[]): string {
  return nodes
    .flatMap((node) => node.selectionSet?.selections ?? [])
    .map((selection) => print(selection))
    .join(' ');
}

/**
 * The distinct `twin { … }` selections of an operation on objects of type `parent` (through its
 * fragments), each with its selections: aliases asking for the same thing are one selection.
 */
export function twinSelections(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Readonly<Record<string, FragmentDefinitionNode>>,
  parent: string,
): Map<string, SelectionNode[]> {
  const byKey = new Map<string, FieldNode[]>();
  const spread = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  const visitor = visitWithTypeInfo(typeInfo, {
    Field: (node) => {
      if (typeInfo.getParentType()?.name !== parent) return undefined;
      const key = node.alias?.value ?? node.name.value;
      if (node.name.value === 'twin') byKey.set(key, [...(byKey.get(key) ?? []), node]);
      // Nothing under its fields is of that type again.
      return false;
    },
    FragmentSpread: (node) => {
      const fragment = fragments[node.name.value];
      if (fragment && !spread.has(node.name.value)) {
        spread.add(node.name.value);
        visit(fragment, visitor);
      }
    },
  });
  visit(operation, visitor);
  return new Map([...byKey.values()].map((nodes) => [selectionText(nodes), nodes.flatMap((node) => node.selectionSet?.selections ?? [])]));
}

/** A query for `count` twins' selections: field `twinField(s, k)` holds selection s of twin k, whose id goes in variable `idVariable(k)`. */
export interface TwinQuery {
  query: string;
  /** The operation's variables the selections use. */
  variables: Record<string, unknown>;
  idVariable: (twin: number) => string;
}

/** The response key of selection `selection` of twin `twin` in a `TwinQuery`. */
export function twinField(selection: number, twin: number): string {
  return `t${selection}_${twin}`;
}

/**
 * The `twin { … }` selections of a caller's operation as one query against the network graph for
 * `count` twins: with the fragments they spread and the operation's variables they use (only
 * those, as GraphQL refuses unused ones). It depends on the operation and the count only.
 */
export function twinQuery(selections: readonly SelectionNode[][], info: GraphQLResolveInfo, count: number): TwinQuery {
  const fragments = new Map<string, FragmentDefinitionNode>();
  const used = new Set<string>();
  const collect = (node: ASTNode) =>
    visit(node, {
      FragmentSpread: (spread) => {
        const fragment = info.fragments[spread.name.value];
        if (fragment && !fragments.has(spread.name.value)) {
          fragments.set(spread.name.value, fragment);
          collect(fragment);
        }
      },
      Variable: (variable) => void used.add(variable.name.value),
    });
  selections.flat().forEach(collect);
  let prefix = 'twinId';
  while ([...used].some((name) => name.startsWith(prefix))) prefix = `_${prefix}`;
  const idVariable = (twin: number) => `${prefix}${twin}`;
  const definitions = (info.operation.variableDefinitions ?? []).filter((definition) => used.has(definition.variable.name.value)).map((d) => print(d));
  const variables = Object.fromEntries([...used].map((name) => [name, info.variableValues[name]]));
  const ids = Array.from({ length: count }, (_, twin) => `$${idVariable(twin)}: ID!`);
  const fields = Array.from({ length: count }, (_, twin) =>
    selections.map((nodes, selection) => `${twinField(selection, twin)}: twin(id: $${idVariable(twin)}) { ${nodes.map((node) => print(node)).join(' ')} }`),
  ).flat();
  const query = parse(
    `query Twins(${[...ids, ...definitions].join(', ')}) { ${fields.join(' ')} } ${[...fragments.values()].map((fragment) => print(fragment)).join(' ')}`,
  );
  return { query: print(withTypenames(query, info.schema)), variables, idVariable };
}

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/**
 * The document with `__typename` selected wherever an interface or union is, as federation's
 * query planner does for the same reason: the answer is executed again here, and an abstract
 * type resolves to its object type from `__typename`.
 */
function withTypenames(document: DocumentNode, schema: GraphQLSchema): DocumentNode {
  const types = new TypeInfo(schema);
  return visit(
    document,
    visitWithTypeInfo(types, {
      SelectionSet: (set) => {
        const parent = types.getParentType();
        return parent && isAbstractType(parent) ? { ...set, selections: [TYPENAME, ...set.selections] } : undefined;
      },
    }),
  );
}

/** Reads fields by their response key (alias) first: `twin { … }` comes back from the network graph keyed so. */
export const responseKeyResolver: GraphQLFieldResolver<unknown, unknown> = (source, _args, _ctx, info) => {
  if (typeof source !== 'object' || source === null) return undefined;
  const record = source as Record<string, unknown>;
  return info.path.key in record ? record[info.path.key as string] : record[info.fieldName];
};

/**
 * Makes the fields of the network graph's object types (those of `apiSchema`, but its root types)
 * read by response key in `schema`, an extension of it: objects of these types come from a
 * federated answer; the gateway's own types keep reading by field name.
 */
export function readNetworkTypesByResponseKey(schema: GraphQLSchema, apiSchema: GraphQLSchema): void {
  const roots = new Set([apiSchema.getQueryType()?.name, apiSchema.getMutationType()?.name]);
  for (const name of Object.keys(apiSchema.getTypeMap())) {
    const type = schema.getType(name);
    if (name.startsWith('__') || roots.has(name) || !isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) field.resolve ??= responseKeyResolver;
  }
}
