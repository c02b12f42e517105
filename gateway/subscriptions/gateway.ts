import type { ApolloGateway } from '@apollo/gateway';
import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import { execute, GraphQLError, Kind, OperationTypeNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { ErrorCode } from '../../lib/errors.ts';

type GatewayInterface = ApolloServerOptionsWithGateway<BaseContext>['gateway'];

/** Only introspection at the root (`__schema`, `__type`, `__typename`): nothing for the subgraphs to do. */
function introspectionOnly(operation: OperationDefinitionNode): boolean {
  return operation.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith('__'));
}

/**
 * The network graph as Apollo Server serves it over HTTP: the composed API schema extended by
 * `extend` with the gateway's own `Subscription`, so that validation and introspection (GraphiQL,
 * Sandbox, codegen) know `twinEvents`. Apollo's gateway introspects its composed schema only, so
 * an operation made of introspection alone is answered from the extended schema here; a
 * subscription sent over HTTP is refused, as subscriptions run over WebSocket on the same URL.
 */
export function withSubscriptions(gateway: ApolloGateway, extend: (apiSchema: GraphQLSchema) => GraphQLSchema): GatewayInterface {
  return {
    onSchemaLoadOrUpdate: (callback) =>
      gateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => callback({ apiSchema: extend(apiSchema), coreSupergraphSdl })),
    async load(options) {
      const { executor } = await gateway.load(options);
      return {
        executor: async (request) => {
          if (request.operation.operation === OperationTypeNode.SUBSCRIPTION) {
            throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws, protocol graphql-transport-ws) at this URL.', {
              extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 400 } },
            });
          }
          if (!introspectionOnly(request.operation)) return executor(request);
          return execute({
            schema: request.schema,
            document: request.document,
            operationName: request.operationName,
            variableValues: request.request.variables,
          });
        },
      };
    },
    stop: () => gateway.stop(),
  };
}
