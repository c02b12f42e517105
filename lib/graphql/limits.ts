import type { ApolloServerPlugin } from '@apollo/server';
import { ErrorCode } from '../errors.ts';
import {
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLError,
  isCompositeType,
  isInterfaceType,
  isIntrospectionType,
  isListType,
  isObjectType,
  Kind,
  Lexer,
  Source,
  TokenKind,
  valueFromASTUntyped,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

/**
 * Query size, depth and cost limits, for every GraphQL endpoint (gateway, organizations, directory).
 *
 * Tokens: the number of lexical tokens of the document (names, punctuation, values), counted
 * before it is parsed or validated, so that a huge document (400,000 aliases) costs the time to
 * lex `maxTokens` tokens and no more.
 *
 * Depth: the largest number of nested fields on any path, e.g. `{ twins { suppliedBy { id } } }`
 * is 3. Fragment spreads and inline fragments add no level of their own; introspection fields
 * (`__schema`, `__type`, `__typename`) and everything under them are not counted: graphql-js's
 * `MaxIntrospectionDepthRule` bounds their nesting, and the cost below counts them.
 *
 * Cost: every field costs 1 (aliases, `__typename` and introspection fields included), or what
 * `fieldCost` computes from its arguments (e.g. a question asked across organizations), times
 * the sizes of the lists it sits in. A field multiplies the cost of its selection by
 *  - the size `listSize` computes from its arguments (e.g. the buckets an aggregate returns), else
 *  - its `first` argument (literal, variable, the variable's default, the argument's schema
 *    default) or, if that has no usable value, by `defaultListSize`, when it returns a list, or
 *    takes a `first` argument without returning a list (a Relay connection): the lists directly
 *    inside it that take no `first` of their own (`edges`, `nodes`) are that page and count once.
 * Lists under introspection fields count once: they are bounded by the schema, not by data. That
 * holds because introspection takes no aliases (`introspection` limit): without them each of its
 * fields answers once, so an operation reads the schema once at most, never a thousand times over.
 * Fields that appear twice (e.g. through two fragments) are counted twice, and `@skip`/`@include`
 * are ignored: the estimate errs on the high side.
 *
 * The checks run as an Apollo Server plugin rather than as validation rules: validation sees no
 * variable values (`first: $n` could not be counted), and Apollo re-labels every validation
 * error `GRAPHQL_VALIDATION_FAILED`.
 */

/** Which limit an operation exceeded: `extensions.kind`. */
type LimitKind = 'tokens' | 'depth' | 'cost' | 'introspection';

/** An argument's value as the request gives it (literal, variable, the variable's default, the argument's default). */
export type ArgumentReader = (name: string) => unknown;

export interface CostOptions {
  /** Size assumed for a list whose `first` is absent, null or not a number. */
  defaultListSize: number;
  /** The size of the list a field returns, computed from its arguments; `undefined` when it has no such rule. */
  listSize?: (field: GraphQLField<unknown, unknown>, argument: ArgumentReader) => number | undefined;
  /** The cost of a field itself, computed from its arguments; `undefined`: 1. */
  fieldCost?: (field: GraphQLField<unknown, unknown>, argument: ArgumentReader) => number | undefined;
}

interface CostLimitOptions extends CostOptions {
  maxCost: number;
}

/** `maxTokens`, `maxDepth` and/or `maxCost` (with `defaultListSize`); an absent limit is not checked. */
export type QueryLimits = { maxTokens?: number; maxDepth?: number } & (CostLimitOptions | { maxCost?: undefined; defaultListSize?: number });

/** Limits a service is configured with, each replacing its default. */
export type LimitSettings = Partial<Pick<CostLimitOptions, 'maxCost' | 'defaultListSize'> & { maxTokens: number; maxDepth: number }>;

/** The limits every twinx endpoint applies unless configured otherwise. */
export const DEFAULT_QUERY_LIMITS = { maxTokens: 10_000, maxDepth: 12, maxCost: 20_000, defaultListSize: 50 } satisfies QueryLimits;

/** Variable values as they arrive in a request (before coercion). */
type VariableValues = Readonly<Record<string, unknown>>;

type FragmentLookup = (name: string) => FragmentDefinitionNode | undefined;

const SIZE_ARGUMENT = 'first';
const MAX = Number.MAX_SAFE_INTEGER;

/** Saturating arithmetic: a cost never becomes `Infinity` (nor `NaN` as `0 × Infinity`). */
const cap = (n: number): number => Math.min(n, MAX);

function isIntrospection(field: FieldNode): boolean {
  return field.name.value.startsWith('__');
}

function documentFragments(document: DocumentNode): FragmentLookup {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return (name) => fragments.get(name);
}

function depthOf(operation: OperationDefinitionNode, fragment: FragmentLookup): number {
  // A fragment's depth does not depend on where it is spread: each is measured once.
  const memo = new Map<string, number>();
  const visiting = new Set<string>();

  function selectionSetDepth(selectionSet: SelectionSetNode): number {
    let max = 0;
    for (const selection of selectionSet.selections) {
      let depth = 0;
      if (selection.kind === Kind.FIELD) {
        if (isIntrospection(selection)) continue;
        depth = 1 + (selection.selectionSet ? selectionSetDepth(selection.selectionSet) : 0);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        depth = selectionSetDepth(selection.selectionSet);
      } else {
        depth = fragmentDepth(selection.name.value);
      }
      max = Math.max(max, depth);
    }
    return max;
  }

  function fragmentDepth(name: string): number {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const definition = fragment(name);
    // Unknown fragments and cycles are other rules' errors (KnownFragmentNames, NoFragmentCycles).
    if (!definition || visiting.has(name)) return 0;
    visiting.add(name);
    const depth = selectionSetDepth(definition.selectionSet);
    visiting.delete(name);
    memo.set(name, depth);
    return depth;
  }

  return selectionSetDepth(operation.selectionSet);
}

function costOf(schema: GraphQLSchema, operation: OperationDefinitionNode, fragment: FragmentLookup, variables: VariableValues, options: CostOptions): number {
  const defaultListSize = cap(options.defaultListSize);
  const variableDefaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) variableDefaults.set(definition.variable.name.value, definition.defaultValue);
  }
  // Keyed by fragment name and whether it is spread directly inside a connection.
  const memo = new Map<string, number>();
  const visiting = new Set<string>();

  function fieldDefinition(parent: GraphQLCompositeType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
    return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
  }

  function typeNamed(name: string | undefined, fallback: GraphQLCompositeType | undefined): GraphQLCompositeType | undefined {
    if (name === undefined) return fallback;
    const type = schema.getType(name);
    return isCompositeType(type) ? type : undefined;
  }

  /** An argument's value as GraphQL would pass it to the resolver (before coercion). */
  function argumentValue(field: FieldNode, definition: GraphQLField<unknown, unknown>, name: string): unknown {
    const node = field.arguments?.find((argument) => argument.name.value === name)?.value;
    let value: unknown;
    if (node?.kind === Kind.VARIABLE) {
      const variable = node.name.value;
      if (Object.hasOwn(variables, variable)) value = variables[variable];
      else if (variableDefaults.has(variable)) value = valueFromASTUntyped(variableDefaults.get(variable) as ValueNode);
    } else if (node) {
      value = valueFromASTUntyped(node, variables);
    }
    return value === undefined ? definition.args.find((argument) => argument.name === name)?.defaultValue : value;
  }

  /** A usable list size, else `defaultListSize`. */
  function size(value: unknown): number {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? cap(Math.ceil(value)) : defaultListSize;
  }

  function selectionSetCost(selectionSet: SelectionSetNode, parent: GraphQLCompositeType | undefined, inConnection: boolean): number {
    let total = 0;
    for (const selection of selectionSet.selections) {
      let cost: number;
      if (selection.kind === Kind.FIELD) {
        const definition = fieldDefinition(parent, selection.name.value);
        const own = definition && options.fieldCost?.(definition, (name) => argumentValue(selection, definition, name));
        cost = own === undefined ? 1 : cap(own);
        if (selection.selectionSet) {
          let multiplier = 1;
          let connection = false;
          let child: GraphQLCompositeType | undefined;
          if (definition) {
            const list = isListType(getNullableType(definition.type));
            const sized = definition.args.some((argument) => argument.name === SIZE_ARGUMENT);
            const computed = options.listSize?.(definition, (name) => argumentValue(selection, definition, name));
            if (computed !== undefined) multiplier = size(computed);
            else if (sized) multiplier = size(argumentValue(selection, definition, SIZE_ARGUMENT));
            else if (list) multiplier = inConnection || isIntrospectionType(parent!) ? 1 : defaultListSize;
            connection = sized && !list;
            const named = getNamedType(definition.type);
            child = isCompositeType(named) ? named : undefined;
          }
          cost = cap(cost + cap(multiplier * selectionSetCost(selection.selectionSet, child, connection)));
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        cost = selectionSetCost(selection.selectionSet, typeNamed(selection.typeCondition?.name.value, parent), inConnection);
      } else {
        cost = fragmentCost(selection.name.value, inConnection);
      }
      total = cap(total + cost);
    }
    return total;
  }

  function fragmentCost(name: string, inConnection: boolean): number {
    const key = `${name}\u0000${inConnection}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const definition = fragment(name);
    if (!definition || visiting.has(key)) return 0;
    visiting.add(key);
    const cost = selectionSetCost(definition.selectionSet, typeNamed(definition.typeCondition.name.value, undefined), inConnection);
    visiting.delete(key);
    memo.set(key, cost);
    return cost;
  }

  return selectionSetCost(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined, false);
}

/** The first alias given to an introspection field (`__schema`, `__type`) or to a field within one, if any. */
function introspectionAlias(operation: OperationDefinitionNode, fragment: FragmentLookup): FieldNode | undefined {
  const seen = new Set<string>();
  function find(selectionSet: SelectionSetNode, inside: boolean): FieldNode | undefined {
    for (const selection of selectionSet.selections) {
      let found: FieldNode | undefined;
      if (selection.kind === Kind.FIELD) {
        const introspection = inside || (isIntrospection(selection) && selection.selectionSet !== undefined);
        if (introspection && selection.alias && selection.alias.value !== selection.name.value) return selection;
        if (selection.selectionSet) found = find(selection.selectionSet, introspection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        found = find(selection.selectionSet, inside);
      } else {
        const key = `${selection.name.value}\u0000${inside}`;
        const definition = fragment(selection.name.value);
        if (definition && !seen.has(key)) {
          seen.add(key);
          found = find(definition.selectionSet, inside);
        }
      }
      if (found) return found;
    }
    return undefined;
  }
  return find(operation.selectionSet, false);
}

function tooComplex(kind: LimitKind, limit: number, actual?: number, node?: ASTNode): GraphQLError {
  const message = {
    tokens: `The document exceeds the limit of ${limit} tokens.`,
    depth: `Query depth ${actual} exceeds the limit of ${limit}.`,
    cost: `Query cost ${actual} exceeds the limit of ${limit}.`,
    introspection: 'Introspection takes no aliases: ask for each part of the schema once.',
  }[kind];
  return new GraphQLError(message, { nodes: node, extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, kind, limit, actual } });
}

function checkLimit(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}.`);
}

function checkLimits(limits: QueryLimits): void {
  if (limits.maxTokens !== undefined) checkLimit('maxTokens', limits.maxTokens);
  if (limits.maxDepth !== undefined) checkLimit('maxDepth', limits.maxDepth);
  if (limits.maxCost !== undefined) checkLimit('maxCost', limits.maxCost);
  if (limits.defaultListSize !== undefined) checkLimit('defaultListSize', limits.defaultListSize);
}

/**
 * The error for a document of more than `maxTokens` tokens, found reading at most that many: run
 * on the source before parsing it. A document that does not lex is left to the parser to refuse.
 */
export function sourceLimitError(source: string, limits: QueryLimits): GraphQLError | undefined {
  if (limits.maxTokens === undefined) return undefined;
  const lexer = new Lexer(new Source(source));
  let tokens = 0;
  try {
    while (lexer.advance().kind !== TokenKind.EOF) if (++tokens > limits.maxTokens) return tooComplex('tokens', limits.maxTokens);
  } catch {
    return undefined;
  }
  return undefined;
}

/** The error for an operation deeper than `maxDepth` or costlier than `maxCost` given its variables (before it runs). */
export function operationLimitError(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: VariableValues | undefined,
  limits: QueryLimits,
): GraphQLError | undefined {
  const fragments = documentFragments(document);
  const aliased = introspectionAlias(operation, fragments);
  if (aliased) return tooComplex('introspection', 0, undefined, aliased);
  if (limits.maxDepth !== undefined) {
    const depth = depthOf(operation, fragments);
    if (depth > limits.maxDepth) return tooComplex('depth', limits.maxDepth, depth, operation);
  }
  if (limits.maxCost !== undefined) {
    const cost = costOf(schema, operation, fragments, variables ?? {}, limits);
    if (cost > limits.maxCost) return tooComplex('cost', limits.maxCost, cost, operation);
  }
  return undefined;
}

/** Depth of the operation `operationName` (or the document's only operation); 0 if there is none. */
export function operationDepth(document: DocumentNode, operationName?: string | null): number {
  const operation = getOperationAST(document, operationName);
  return operation ? depthOf(operation, documentFragments(document)) : 0;
}

/** Estimated cost of the operation `operationName` (or the document's only operation); 0 if there is none. */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: VariableValues | undefined,
  options: CostOptions,
  operationName?: string | null,
): number {
  const operation = getOperationAST(document, operationName);
  return operation ? costOf(schema, operation, documentFragments(document), variables ?? {}, options) : 0;
}

/**
 * Apollo Server plugin: once the operation to run is known (`didResolveOperation`, after
 * validation, before execution or any subgraph call), rejects it if it is deeper than
 * `maxDepth` or costlier than `maxCost` given the request's variables. The error has
 * `extensions: { code: 'QUERY_TOO_COMPLEX', kind, limit, actual }` and makes the response HTTP 400.
 * `maxTokens` is the transport's to check, before Apollo parses (lib/http.ts, graphql-ws):
 * Apollo has no hook between receiving a document and parsing it that may refuse it.
 */
export function queryLimitsPlugin(limits: QueryLimits): ApolloServerPlugin {
  checkLimits(limits);
  /**
   * The verdict on operations that declare no variables, which nothing in a request can change:
   * Apollo Server keeps each query's document once parsed and validated, so a query asked again
   * is the same operation, and is measured once per schema.
   */
  const verdicts = new WeakMap<OperationDefinitionNode, { schema: GraphQLSchema; error: GraphQLError | undefined }>();
  const verdict = (schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: VariableValues | undefined) => {
    if (operation.variableDefinitions?.length) return operationLimitError(schema, document, operation, variables, limits);
    let known = verdicts.get(operation);
    if (known?.schema !== schema) verdicts.set(operation, (known = { schema, error: operationLimitError(schema, document, operation, undefined, limits) }));
    return known.error;
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          const error = operation && verdict(schema, document, operation, request.variables);
          if (error) throw new GraphQLError(error.message, { nodes: error.nodes, extensions: { ...error.extensions, http: { status: 400 } } });
        },
      };
    },
  };
}
