import { createHash } from 'node:crypto';
import { Kind, validate, type DocumentNode, GraphQLError, type FieldNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionNode } from 'graphql';
import { TwinxError } from '../lib/errors.ts';
import { parseTwinId } from '../lib/ids.ts';
import { orgNames } from '../subgraphs/org/names.ts';

/**
 * `twin(id)` at the network graph's root, asked of the twin's organization in one hop.
 *
 * Federation routes by field, so the directory, which owns `twin(id)`, would be asked first, only
 * to name the type from the id's prefix, and the organization second. The gateway knows the
 * directory's other conditions itself: the organization is an active member it composed, and the
 * caller holds one of its tokens (not revoked) with `twins:read`. Then the field is asked as the
 * organization's own `<org> { twin(id) }`, with the twin's `listed` flag, and the answer is given
 * as the directory's would be: the twin when the owner shows it to the caller and it is listed in
 * the catalog, null otherwise. The owner checks, authorizes and audits the read as for any other;
 * a twin outside the caller's grants is null at the owner as at the directory. Anything else (an
 * id of another shape, a member not handed out, a caller without its tokens, `twin` inside a
 * fragment, selections the organization's type cannot take) goes to the directory as before.
 */

/** Response keys the gateway adds: refused in operations that use them, so as never to clash. */
const RESERVED = 'twinx__';
const OWNER = `${RESERVED}owner_`;
const LISTED = `${RESERVED}listed`;
/** Routed documents kept per schema (the validity of a rewrite depends on it); emptied when full. */
const MAX_ROUTED = 1000;

/** What the gateway answers for the directory: whether a twin of `org` may be asked of `org` for this caller. */
export type OwnerAsked = (org: string, context: unknown) => boolean;

/** A request as the federated executor takes it: the parts a rewrite changes. */
export interface RoutableRequest {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  queryHash: string;
  request: { variables?: Record<string, unknown> };
  context: unknown;
}

export interface Routed<R extends RoutableRequest> {
  /** The request with its routed `twin` fields asked of their organizations. */
  request: R;
  /** The answer as the original operation's: each routed field back under its own response key. */
  restore<T extends { data?: Record<string, unknown> | null; errors?: readonly GraphQLError[] }>(result: T): T;
}

interface Rewrite {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  queryHash: string;
  /** Response key of each routed field, by the key of the organization's field it went under. */
  keys: Map<string, string>;
}

const cache = new WeakMap<GraphQLSchema, Map<string, Rewrite | null>>();

/** The organization whose twin a root `twin` field asks for, when it can be routed at all. */
function ownerOf(field: FieldNode, operation: OperationDefinitionNode, variables: Record<string, unknown>): string | undefined {
  const [argument, ...more] = field.arguments ?? [];
  if (argument?.name.value !== 'id' || more.length > 0 || field.alias?.value.startsWith(RESERVED)) return undefined;
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

function rewrite(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, owners: (string | undefined)[]): Rewrite | null {
  const keys = new Map<string, string>();
  const selections = operation.selectionSet.selections.map((selection, index): SelectionNode => {
    const org = owners[index];
    if (org === undefined || selection.kind !== Kind.FIELD || !selection.selectionSet) return selection;
    const key = `${OWNER}${index}`;
    keys.set(key, selection.alias?.value ?? selection.name.value);
    const listed: FieldNode = { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: LISTED }, name: { kind: Kind.NAME, value: 'listed' } };
    const twin: FieldNode = {
      ...selection,
      directives: [],
      selectionSet: { ...selection.selectionSet, selections: [...selection.selectionSet.selections, listed] },
    };
    return {
      kind: Kind.FIELD,
      alias: { kind: Kind.NAME, value: key },
      name: { kind: Kind.NAME, value: orgNames(org).field },
      // `@include` and `@skip` keep their meaning one level up.
      directives: selection.directives,
      selectionSet: { kind: Kind.SELECTION_SET, selections: [twin] },
    };
  });
  const routedOperation: OperationDefinitionNode = { ...operation, selectionSet: { ...operation.selectionSet, selections } };
  const routedDocument: DocumentNode = { ...document, definitions: document.definitions.map((d) => (d === operation ? routedOperation : d)) };
  // Selections only the directory's `Twin` can take (another organization's fragment) keep the directory's way.
  if (validate(schema, routedDocument).length > 0) return null;
  return { document: routedDocument, operation: routedOperation, queryHash: '', keys };
}

/**
 * Routes the operation's root `twin(id)` fields that `asked` allows to their organizations; undefined
 * when none is routed. `schema` is the one the operation was validated against.
 */
export function routeToOwners<R extends RoutableRequest>(schema: GraphQLSchema, request: R, asked: OwnerAsked): Routed<R> | undefined {
  const { operation, document } = request;
  const root = operation.selectionSet.selections;
  if (!root.some((selection) => selection.kind === Kind.FIELD && selection.name.value === 'twin')) return undefined;
  // Keys the gateway would add must be free, and each routed field's response key its own.
  const rootKeys = root.flatMap((selection) => (selection.kind === Kind.FIELD ? [selection.alias?.value ?? selection.name.value] : []));
  if (rootKeys.some((key) => key.startsWith(RESERVED)) || new Set(rootKeys).size !== rootKeys.length) return undefined;
  const variables = request.request.variables ?? {};
  const owners = root.map((selection) =>
    selection.kind === Kind.FIELD && selection.name.value === 'twin' ? ownerOf(selection, operation, variables) : undefined,
  );
  const routed = owners.map((org) => (org !== undefined && asked(org, request.context) ? org : undefined));
  if (routed.every((org) => org === undefined)) return undefined;
  const cacheKey = `${request.queryHash}\n${routed.join(',')}`;
  let rewrites = cache.get(schema);
  if (!rewrites) cache.set(schema, (rewrites = new Map()));
  let found = rewrites.get(cacheKey);
  if (found === undefined) {
    found = rewrite(schema, document, operation, routed);
    if (found) found.queryHash = createHash('sha256').update(cacheKey).digest('hex');
    if (rewrites.size >= MAX_ROUTED) rewrites.clear();
    rewrites.set(cacheKey, found);
  }
  if (found === null) return undefined;
  const { keys } = found;
  return {
    request: { ...request, document: found.document, operation: found.operation, queryHash: found.queryHash },
    restore(result) {
      /** A path under a routed field's organization field, as the path under the field itself. */
      const moved = (path: readonly (string | number)[]): readonly (string | number)[] => {
        const [first, , ...rest] = path;
        const key = typeof first === 'string' ? keys.get(first) : undefined;
        return key === undefined ? path : [key, ...rest];
      };
      const errors = result.errors?.map((error) => {
        // A subgraph's error carries the place it was given (data-source.ts), which is what is answered.
        if (error.originalError instanceof TwinxError && error.originalError.responsePath)
          error.originalError.responsePath = moved(error.originalError.responsePath);
        return error.path ? new GraphQLError(error.message, { ...error, path: moved(error.path), originalError: error.originalError }) : error;
      });
      if (!result.data) return errors ? { ...result, errors } : result;
      const data: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(result.data)) {
        const twinKey = keys.get(key);
        if (twinKey === undefined) data[key] = value;
        else {
          const twin = (value as Record<string, Record<string, unknown> | null> | null)?.[twinKey] ?? null;
          const { [LISTED]: listed, ...shown } = twin ?? {};
          data[twinKey] = twin && listed === true ? shown : null;
        }
      }
      return { ...result, data, ...(errors ? { errors } : {}) };
    },
  };
}
