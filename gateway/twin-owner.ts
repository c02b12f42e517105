import { createHash } from 'node:crypto';
import { GraphQLError, Kind, validate, visit, type DocumentNode, type FieldNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { TwinxError } from '../lib/errors.ts';
import { parseTwinId } from '../lib/ids.ts';
import { orgNames } from '../subgraphs/org/names.ts';
import { federatedDocument } from './operation-parts.ts';

/**
 * `twin(id)` at the network graph's root, asked of the twin's organization in one hop.
 *
 * Federation routes by field, so the directory, which owns `twin(id)`, would be asked first, only
 * to name the type from the id's prefix, and the organization second. The gateway knows the
 * directory's other conditions itself: the organization is an active member it composed, and the
 * caller holds one of its tokens (not revoked) with `twins:read`. Then the organization's own
 * `<org> { twin(id) }` is asked instead, with the twin's `listed` flag, and the answer is the
 * directory's: the twin when the owner shows it to the caller and lists it in the catalog, null
 * otherwise (and then without the owner's errors about it, which would tell it exists). The owner
 * checks, authorizes and audits the read as any other. Each organization's twins are asked in a
 * request of their own; one failing as a whole (its root field is non-null) is answered the
 * directory's way, which says what it can of its twins. Anything else goes the directory's way:
 * an id of another shape, a member not handed out, a caller without its tokens, fragments at the
 * operation's root, keys the gateway reserves, or selections the organization's type cannot take.
 */

/** Names the gateway adds: an operation that uses them is not routed, so that none clashes. */
const RESERVED = 'twinx__';
const OWNER = `${RESERVED}owner`;
const LISTED = `${RESERVED}listed`;
/** Routing plans kept per schema; emptied when full. */
const MAX_PLANS = 1000;
/**
 * Longest query whose plans are kept: a plan's documents hold the query's text (their locations
 * point into it), so that `MAX_PLANS` of them take at most about 16 MiB. Longer ones are planned per request.
 */
const MAX_PLANNED_SOURCE = 16 * 1024;

/** Whether a twin of `org` may be asked of `org` for the caller of this context. */
export type OwnerAsked = (org: string, context: unknown) => boolean;

/** A request as the federated executor takes it: what routing reads and changes. */
export interface RoutableRequest {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName?: string | null;
  queryHash: string;
  source: string;
  request: { variables?: Record<string, unknown> };
  context: unknown;
}

/** An answer of the federated executor. */
export interface RoutableResult {
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLError[];
}

export interface Routed<R extends RoutableRequest> {
  /**
   * The answer as the original operation's, in its order: each organization's twins by `executor`,
   * the other root fields by `runQuery`.
   */
  run<T extends RoutableResult>(runQuery: (request: R) => Promise<T>, executor: (request: R) => Promise<T>): Promise<T>;
}

/** A request's document, operation and query plan key, as the federated executor reads them. */
type Part = Pick<RoutableRequest, 'document' | 'operation' | 'queryHash'>;

/** An organization's twins in a plan: their fields and response keys, and the request asking them of it. */
interface OwnerPart {
  org: string;
  fields: FieldNode[];
  keys: string[];
  part: Part;
}

/** How an operation is asked for one assignment of its routed twins to organizations: a request per organization, one for the rest. */
interface Plan {
  key: string;
  parts: OwnerPart[];
  rest: Part | undefined;
}

/**
 * Plans by schema, then by query, operation and assignment (a plan depends on nothing else); null
 * for an assignment left to the directory.
 */
const plans = new WeakMap<GraphQLSchema, Map<string, Plan | null>>();

/** The plan for this assignment: the rewrite validated once against the schema, and each part's query plan key. */
function planOf(schema: GraphQLSchema, request: RoutableRequest, byOrg: ReadonlyMap<string, FieldNode[]>, routedKeys: ReadonlySet<string>): Plan | null {
  const key = `${request.queryHash}\n${request.operationName ?? ''}\n${[...byOrg].map(([org, twins]) => `${org}:${twins.map(keyOf).join(',')}`).join(' ')}`;
  let known = plans.get(schema);
  if (!known) plans.set(schema, (known = new Map()));
  const plan = known.get(key);
  if (plan !== undefined) return plan;
  const made = makePlan(schema, request, byOrg, routedKeys, key);
  if (request.source.length <= MAX_PLANNED_SOURCE) {
    if (known.size >= MAX_PLANS) known.clear();
    known.set(key, made);
  }
  return made;
}

function makePlan(
  schema: GraphQLSchema,
  request: RoutableRequest,
  byOrg: ReadonlyMap<string, FieldNode[]>,
  routedKeys: ReadonlySet<string>,
  key: string,
): Plan | null {
  const { operation, document } = request;
  if (usesReserved(document)) return null;
  const parts = [...byOrg].map(([org, fields]) => ({ org, fields, document: federatedDocument(document, operation, [ownerField(org, fields)]) }));
  // Selections only the directory's `Twin` can take (another organization's fragment) keep the directory's way.
  if (!parts.every((part) => validate(schema, part.document).length === 0)) return null;
  const restSelections = operation.selectionSet.selections.filter((field) => !routedKeys.has(keyOf(field as FieldNode)));
  return {
    key,
    parts: parts.map(({ org, fields, document: partDocument }) => ({ org, fields, keys: fields.map(keyOf), part: partOf(partDocument, key, org) })),
    rest: restSelections.length > 0 ? partOf(federatedDocument(document, operation, restSelections), key, '') : undefined,
  };
}

/** A part of a plan's operation, with a query plan of its own under a hash of what it was made from. */
function partOf(document: DocumentNode, planKey: string, name: string): Part {
  return {
    document,
    operation: document.definitions[0] as OperationDefinitionNode,
    queryHash: createHash('sha256').update(`${planKey}\n${name}`).digest('hex'),
  };
}

/** The organization whose twin a root `twin` field asks for, when it can be routed at all. */
function ownerOf(field: FieldNode, operation: OperationDefinitionNode, variables: Record<string, unknown>): string | undefined {
  const [argument, ...more] = field.arguments ?? [];
  if (argument?.name.value !== 'id' || more.length > 0 || !field.selectionSet) return undefined;
  const { value } = argument;
  let id: unknown;
  if (value.kind === Kind.STRING) id = value.value;
  else if (value.kind === Kind.VARIABLE) {
    const name = value.name.value;
    const fallback = operation.variableDefinitions?.find((definition) => definition.variable.name.value === name)?.defaultValue;
    id = name in variables ? variables[name] : fallback?.kind === Kind.STRING ? fallback.value : undefined;
  }
  return typeof id === 'string' ? parseTwinId(id)?.org : undefined;
}

/** The organization's root field holding `twins`, each asked with its `listed` flag under its own response key. */
function ownerField(org: string, twins: readonly FieldNode[]): FieldNode {
  const listed: FieldNode = { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: LISTED }, name: { kind: Kind.NAME, value: 'listed' } };
  return {
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: OWNER },
    name: { kind: Kind.NAME, value: orgNames(org).field },
    selectionSet: {
      kind: Kind.SELECTION_SET,
      selections: twins.map((twin) => ({ ...twin, selectionSet: { ...twin.selectionSet!, selections: [...twin.selectionSet!.selections, listed] } })),
    },
  };
}

/** Whether the document uses a name the gateway reserves (an alias, a fragment's name). */
function usesReserved(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Name: (node) => {
      if (node.value.startsWith(RESERVED)) found = true;
    },
  });
  return found;
}

function keyOf(field: FieldNode): string {
  return field.alias?.value ?? field.name.value;
}

/**
 * Routes the operation's root `twin(id)` fields that `asked` allows to their organizations;
 * undefined when none is. `schema` is the one the operation was validated against.
 */
export function routeToOwners<R extends RoutableRequest>(schema: GraphQLSchema, request: R, asked: OwnerAsked): Routed<R> | undefined {
  const { operation } = request;
  const root = operation.selectionSet.selections;
  if (!root.some((selection) => selection.kind === Kind.FIELD && selection.name.value === 'twin')) return undefined;
  // A root fragment could select a routed field's key too: the fields are then left together.
  if (!root.every((selection): selection is FieldNode => selection.kind === Kind.FIELD)) return undefined;
  const variables = request.request.variables ?? {};
  const allowed = new Map<string, boolean>();
  const byOrg = new Map<string, FieldNode[]>();
  for (const field of root) {
    const org = field.name.value === 'twin' ? ownerOf(field, operation, variables) : undefined;
    if (org === undefined) continue;
    if (!allowed.has(org)) allowed.set(org, asked(org, request.context));
    if (allowed.get(org)) byOrg.set(org, [...(byOrg.get(org) ?? []), field]);
  }
  if (byOrg.size === 0) return undefined;
  const routedKeys = new Set([...byOrg.values()].flat().map(keyOf));
  const rootKeys = root.map(keyOf);
  // Each routed field's response key its own: it is answered from one organization's part.
  if (rootKeys.filter((key) => routedKeys.has(key)).length !== routedKeys.size) return undefined;

  const plan = planOf(schema, request, byOrg, routedKeys);
  if (!plan) return undefined;
  const { parts } = plan;
  const owned = parts.map(({ part }) => ({ ...request, ...part }));
  const rest = plan.rest && { ...request, ...plan.rest };
  return {
    async run(runQuery, executor) {
      const [restAnswer, ...ownedAnswers] = await Promise.all([rest && runQuery(rest), ...owned.map((part) => executor(part))]);
      // An organization that failed as a whole (its root field is non-null: none of its twins
      // answered): the directory's way says what it can of its twins, the rest of the operation not
      // asked again. The organization is not asked again for this request (data-source.ts), so its
      // error is said from its own part.
      const failed = parts.filter((_, index) => !ownedAnswers[index]!.data?.[OWNER]);
      // The other fields failed as a whole (a non-null field at the root): so does the answer, and nothing is asked again.
      const restFailed = restAnswer !== undefined && !restAnswer.data;
      const directoryWay = () => {
        const document = federatedDocument(
          request.document,
          request.operation,
          failed.flatMap(({ fields }) => fields),
        );
        return { ...request, ...partOf(document, plan.key, failed.map(({ org }) => `directory ${org}`).join(' ')) };
      };
      const again = failed.length > 0 && !restFailed ? await executor(directoryWay()) : undefined;
      // A failed organization is named once: its part's errors unless the directory's way says them.
      const said = new Set((again?.errors ?? []).map((error) => error.message));
      const twins = new Map<string, unknown>();
      /** Keys answered null for a twin the owner gave but the directory would not (not listed): none of its errors is said. */
      const withheld = new Set<string>();
      const errors: GraphQLError[] = [...(restAnswer?.errors ?? [])];
      parts.forEach((part, index) => {
        const { keys } = part;
        const { data, errors: partErrors = [] } = ownedAnswers[index]!;
        if (failed.includes(part)) {
          errors.push(...partErrors.map((error) => movedError(error, keys[0]!)).filter((error) => !said.has(error.message)));
          // A twin skipped (`@skip`, `@include`) has no key.
          for (const key of keys) if (!again?.data || key in again.data) twins.set(key, again?.data?.[key] ?? null);
          return;
        }
        const holder = data![OWNER] as Record<string, Record<string, unknown> | null>;
        for (const key of keys) {
          // A twin skipped (`@skip`, `@include`) has no key.
          if (!(key in holder)) continue;
          const twin = holder[key] ?? null;
          const { [LISTED]: listed, ...shown } = twin ?? {};
          if (twin && listed !== true) withheld.add(key);
          twins.set(key, twin && listed === true ? shown : null);
        }
        for (const error of partErrors) {
          const moved = movedError(error, keys[0]!);
          if (!withheld.has(String(placeOf(moved)?.[0]))) errors.push(moved);
        }
      });
      // The directory's way may say again what the rest said (the same error at the same place).
      const placed = (error: GraphQLError) => `${error.message}\n${JSON.stringify(placeOf(error) ?? null)}`;
      const restSaid = new Set((restAnswer?.errors ?? []).map(placed));
      errors.push(...(again?.errors ?? []).filter((error) => !restSaid.has(placed(error))));
      const answer = { ...restAnswer, ...(errors.length > 0 ? { errors } : {}) } as (typeof ownedAnswers)[number];
      if (restFailed) return answer;
      const data: Record<string, unknown> = {};
      for (const key of rootKeys) {
        if (twins.has(key)) data[key] = twins.get(key);
        else if (restAnswer?.data && key in restAnswer.data) data[key] = restAnswer.data[key];
      }
      return { ...answer, data };
    },
  };
}

/** Where an error is answered: a subgraph's at the place it was given (data-source.ts), others at their path. */
function placeOf(error: GraphQLError): readonly (string | number)[] | undefined {
  return (error.originalError instanceof TwinxError && error.originalError.responsePath) || error.path;
}

/**
 * An error of an organization's part placed under the routed field it concerns: `[owner, key, …]`
 * becomes `[key, …]`, and the organization's field as a whole (it failed) the first of its twins.
 */
function movedError(error: GraphQLError, firstKey: string): GraphQLError {
  const move = (path: readonly (string | number)[]): readonly (string | number)[] =>
    path[0] !== OWNER ? path : path.length === 1 ? [firstKey] : [path[1]!, ...path.slice(2)];
  const original = error.originalError;
  if (original instanceof TwinxError && original.responsePath) original.responsePath = move(original.responsePath);
  if (!error.path) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: move(error.path),
    originalError: original,
    extensions: error.extensions,
  });
}
