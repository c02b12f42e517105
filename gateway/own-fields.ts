import type { ApolloGateway } from '@apollo/gateway';
import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import { execute, GraphQLError, Kind, OperationTypeNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionNode } from 'graphql';
import { ErrorCode } from '../lib/errors.ts';
import { federatedDocument, narrowed } from './operation-parts.ts';
import { routeToOwners, type OwnerAsked } from './twin-owner.ts';

type GatewayInterface = ApolloServerOptionsWithGateway<BaseContext>['gateway'];

/**
 * The network graph as Apollo Server serves it over HTTP: the composed API schema extended by
 * `extend` with the gateway's own fields (its `Subscription`, its root query fields), so that
 * validation and introspection (GraphiQL, Sandbox, codegen) know them. Apollo's gateway knows its
 * composed schema only, so the root query fields it does not have (the gateway's own, `__schema`,
 * `__type`, `__typename`) are executed here on the extended schema with the request's context,
 * the rest by the federated executor, and the two merged into one answer in the operation's
 * order; the gateway's own fields are selected at the operation's root, not through fragments. A
 * subscription sent over HTTP is refused, as subscriptions run over WebSocket on the same URL.
 * Root `twin(id)` fields that `asked` allows are asked of their organizations (twin-owner.ts).
 */
export function withGatewayFields(gateway: ApolloGateway, extend: (apiSchema: GraphQLSchema) => GraphQLSchema, asked: OwnerAsked): GatewayInterface {
  let federated = new Set<string>();
  return {
    onSchemaLoadOrUpdate: (callback) =>
      gateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
        federated = new Set(Object.keys(apiSchema.getQueryType()?.getFields() ?? {}));
        callback({ apiSchema: extend(apiSchema), coreSupergraphSdl });
      }),
    async load(options) {
      const { executor } = await gateway.load(options);
      type Request = Parameters<typeof executor>[0];
      /** A query: the gateway's own root fields executed here, the others by the federated executor. */
      const runQuery = async (request: Request): ReturnType<typeof executor> => {
        const { operation, document } = request;
        const root = operation.selectionSet.selections;
        const isOwn = (selection: SelectionNode) => selection.kind === Kind.FIELD && !federated.has(selection.name.value);
        const own = root.filter(isOwn);
        if (own.length === 0) return executor(request);
        const ownOperation = narrowed(operation, own);
        const local = execute({
          schema: request.schema,
          document: { ...document, definitions: document.definitions.map((d) => (d === operation ? ownOperation : d)) },
          operationName: request.operationName,
          variableValues: request.request.variables,
          contextValue: request.context,
        });
        const rest = root.filter((selection) => !isOwn(selection));
        if (rest.length === 0) return local;
        const restDocument = federatedDocument(document, operation, rest);
        const [mine, theirs] = await Promise.all([
          local,
          executor({ ...request, document: restDocument, operation: restDocument.definitions[0] as OperationDefinitionNode }),
        ]);
        const errors = [...(theirs.errors ?? []), ...(mine.errors ?? [])];
        const answer = { ...theirs, ...(errors.length > 0 ? { errors } : {}) };
        if (!theirs.data || !mine.data) return { ...answer, data: theirs.data === null || mine.data === null ? null : (theirs.data ?? mine.data) };
        const data: Record<string, unknown> = {};
        for (const selection of root) {
          if (selection.kind !== Kind.FIELD) Object.assign(data, theirs.data);
          else {
            const key = selection.alias?.value ?? selection.name.value;
            data[key] = (isOwn(selection) ? mine.data : theirs.data)[key];
          }
        }
        return { ...answer, data };
      };
      return {
        executor: async (request) => {
          if (request.operation.operation === OperationTypeNode.SUBSCRIPTION) {
            throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws, protocol graphql-transport-ws) at this URL.', {
              extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 400 } },
            });
          }
          if (request.operation.operation !== OperationTypeNode.QUERY) return executor(request);
          const routed = routeToOwners(request.schema, request, asked);
          return routed ? routed.run(runQuery, executor) : runQuery(request);
        },
      };
    },
    stop: () => gateway.stop(),
  };
}
