import { buildSubgraphSchema } from '@apollo/subgraph';
import {
  getNullableType,
  isAbstractType,
  isInterfaceType,
  isListType,
  isObjectType,
  isUnionType,
  Kind,
  parse,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { orgNames } from '../subgraphs/org/names.ts';

/** An operation the gateway sends a subgraph, parsed. */
export interface SubgraphOperation {
  definition: OperationDefinitionNode;
  fragments: Map<string, FragmentDefinitionNode>;
}

/** Parses an operation the query planner wrote (one operation, maybe fragments). */
export function parseSubgraphOperation(query: string): SubgraphOperation {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let definition: OperationDefinitionNode | undefined;
  for (const node of parse(query).definitions) {
    if (node.kind === Kind.FRAGMENT_DEFINITION) fragments.set(node.name.value, node);
    else if (node.kind === Kind.OPERATION_DEFINITION) definition = node;
  }
  if (definition === undefined) throw new TypeError('a subgraph operation without an operation');
  return { definition, fragments };
}

/** A path in a GraphQL response: response keys and list indexes. */
export type ResponsePath = (string | number)[];

/** The field an operation selects under a response key in a selection set, through its fragments. */
function selectedField(operation: SubgraphOperation, selectionSet: SelectionSetNode, key: string): FieldNode | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if ((selection.alias?.value ?? selection.name.value) === key) return selection;
      continue;
    }
    const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : operation.fragments.get(selection.name.value);
    const field = fragment && selectedField(operation, fragment.selectionSet, key);
    if (field) return field;
  }
  return undefined;
}

/** Whether a path follows what the operation selects, `_entities` items only among the representations sent. */
function follows(operation: SubgraphOperation, path: readonly unknown[], representations: number): boolean {
  let selectionSet: SelectionSetNode | undefined = operation.definition.selectionSet;
  for (const [index, key] of path.entries()) {
    if (typeof key === 'number') {
      if (!Number.isInteger(key) || key < 0 || (index === 1 && path[0] === '_entities' && key >= representations)) return false;
    } else {
      const field: FieldNode | undefined = typeof key === 'string' && selectionSet ? selectedField(operation, selectionSet, key) : undefined;
      if (field === undefined) return false;
      selectionSet = field.selectionSet;
    }
  }
  return true;
}

/**
 * Where, in the caller's response, an error a subgraph gave about its answer lies, so that no
 * subgraph's error lands on another's part. `fetchPath` is where the gateway puts the answer (`@`
 * for every item of a list). An error path that does not follow the operation is placed at the
 * answer as a whole. Entities fetched for the items of a list are placed at the list: the gateway
 * sends only some items' representations (those of the subgraph's type), and which item the n-th
 * representation came from is not known here.
 */
export function placeError(operation: SubgraphOperation, fetchPath: readonly (string | number)[], errorPath: unknown, representations: number): ResponsePath {
  const listAt = fetchPath.indexOf('@');
  if (listAt >= 0) return fetchPath.slice(0, listAt);
  const path = Array.isArray(errorPath) && follows(operation, errorPath, representations) ? (errorPath as ResponsePath) : undefined;
  const [root] = operation.definition.selectionSet.selections;
  const entities = root?.kind === Kind.FIELD && root.name.value === '_entities';
  if (entities) return [...fetchPath, ...(path?.slice(2) ?? [])];
  const first = root?.kind === Kind.FIELD ? [root.alias?.value ?? root.name.value] : [];
  return [...fetchPath, ...(path ?? first)];
}

/** Where, in an answer, a member said what it may not, and what. */
export interface AnswerProblem {
  what: string;
  path: (string | number)[];
}

/** In one selection set, for objects of one type: what to look at. */
interface Collected {
  /** Every response key selected (`__typename` included): an answer may hold no other. */
  keys: Set<string>;
  /** Response keys under which `id` is selected, when the type is the member's twin type. */
  ids: string[];
  /** Fields with a selection of their own, by response key, with their selections (a key selected twice merges both, as GraphQL does). */
  children: { key: string; type: GraphQLOutputType; selections: SelectionSetNode[] }[];
  /** A field the schema does not have: the operation was planned on another version of it. */
  unknown?: string;
}

/**
 * What one member may say in its answers (README, "Security model"): what it was asked and
 * nothing else, at any depth (Apollo's gateway merges an answer as it comes: a key not asked for,
 * at the root or in an entity, would overwrite what the directory or another organization
 * answered there, their ids included); objects of its twin type only with its own ids
 * (`<slug>:…`); and objects only of types its schema has where its schema has them (an object of
 * another organization's type in `_entities` would be merged into that organization's twin).
 * Checked against the schema the member was composed from, walking the operation alongside the answer.
 */
export class MemberAnswers {
  private readonly schema: GraphQLSchema;
  private readonly twinType: string;
  /** By selections (the one selection set, or a child's list) and object type: computed once per operation shape, not per answer. */
  private readonly collected = new WeakMap<object, Map<string, Collected>>();

  constructor(
    readonly slug: string,
    /** The SDL the member was composed from. */
    readonly sdl: string,
  ) {
    this.schema = buildSubgraphSchema(parse(sdl));
    this.twinType = orgNames(slug).twin;
  }

  /** The first thing in the answer's `data` that the member may not say; undefined when there is none. */
  problemIn(operation: SubgraphOperation, data: unknown): AnswerProblem | undefined {
    const root = this.schema.getRootType(operation.definition.operation);
    if (root === undefined || root === null) return { what: `answers a ${operation.definition.operation}, which its schema lacks`, path: [] };
    return this.value(operation, root, [operation.definition.selectionSet], data);
  }

  private value(operation: SubgraphOperation, type: GraphQLOutputType, selections: readonly SelectionSetNode[], value: unknown): AnswerProblem | undefined {
    if (value === null || value === undefined) return undefined;
    const nullable = getNullableType(type);
    if (isListType(nullable)) {
      if (!Array.isArray(value)) return { what: 'answers something else than a list', path: [] };
      for (let index = 0; index < value.length; index++) {
        const problem = this.value(operation, nullable.ofType, selections, value[index]);
        if (problem) {
          problem.path.unshift(index);
          return problem;
        }
      }
      return undefined;
    }
    if (typeof value !== 'object' || Array.isArray(value)) return { what: 'answers something else than an object', path: [] };
    const object = value as Record<string, unknown>;
    const runtime = this.runtimeType(nullable as GraphQLCompositeType, object.__typename);
    if (typeof runtime === 'string') return { what: runtime, path: [] };
    const fields = this.collect(operation, selections, runtime);
    if (fields.unknown !== undefined) return { what: `is asked for ${fields.unknown}, which the schema it was composed from lacks`, path: [] };
    for (const key of Object.keys(object)) if (!fields.keys.has(key)) return { what: `answers ${JSON.stringify(key)}, which it was not asked`, path: [key] };
    if (runtime.name === this.twinType) {
      for (const key of fields.ids) {
        const id = object[key];
        if (id !== null && id !== undefined && !(typeof id === 'string' && id.startsWith(`${this.slug}:`)))
          return { what: `answers a twin with the id ${JSON.stringify(id)}`, path: [key] };
      }
    }
    for (const child of fields.children) {
      const problem = this.value(operation, child.type, child.selections, object[child.key]);
      if (problem) {
        problem.path.unshift(child.key);
        return problem;
      }
    }
    return undefined;
  }

  /**
   * The type an object is taken for. Where the schema has an object type, `__typename` may only
   * repeat it. Where it has an abstract type, `__typename` must name one of its object types;
   * without one, the gateway takes an entity for the type of its representation (always the
   * twin type: a member's only entity), and so does this check wherever a twin may be.
   */
  private runtimeType(type: GraphQLCompositeType, typename: unknown): GraphQLCompositeType | string {
    const refusal = () => `answers a ${String(typename)} where its schema has ${type.name}`;
    if (isObjectType(type)) return typename === undefined || typename === type.name ? type : refusal();
    if (typename === undefined) {
      const twin = this.schema.getType(this.twinType) as GraphQLObjectType;
      return this.schema.isSubType(type, twin) ? twin : type;
    }
    const named = typeof typename === 'string' ? this.schema.getType(typename) : undefined;
    return isObjectType(named) && this.schema.isSubType(type, named) ? named : refusal();
  }

  private collect(operation: SubgraphOperation, selections: readonly SelectionSetNode[], type: GraphQLCompositeType): Collected {
    const cacheKey = selections.length === 1 ? selections[0]! : selections;
    let byType = this.collected.get(cacheKey);
    if (byType === undefined) this.collected.set(cacheKey, (byType = new Map()));
    let collected = byType.get(type.name);
    if (collected === undefined) {
      collected = { keys: new Set(), ids: [], children: [] };
      for (const selectionSet of selections) this.gather(operation, selectionSet, type, collected);
      byType.set(type.name, collected);
    }
    return collected;
  }

  private gather(operation: SubgraphOperation, selectionSet: SelectionSetNode, type: GraphQLCompositeType, into: Collected): void {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        const key = selection.alias?.value ?? name;
        into.keys.add(key);
        if (name.startsWith('__')) continue;
        const field = isUnionType(type) ? undefined : type.getFields()[name];
        if (field === undefined) {
          into.unknown ??= `${type.name}.${name}`;
          continue;
        }
        if (name === 'id' && type.name === this.twinType) into.ids.push(key);
        if (selection.selectionSet) {
          const child = into.children.find((known) => known.key === key);
          if (child) child.selections.push(selection.selectionSet);
          else into.children.push({ key, type: field.type, selections: [selection.selectionSet] });
        }
        continue;
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : operation.fragments.get(selection.name.value);
      if (fragment === undefined) continue;
      const condition = fragment.typeCondition === undefined ? type : this.schema.getType(fragment.typeCondition.name.value);
      const applies =
        condition === type || (isAbstractType(condition) && (isObjectType(type) || isInterfaceType(type)) && this.schema.isSubType(condition, type));
      if (applies) this.gather(operation, fragment.selectionSet, type, into);
    }
  }
}
