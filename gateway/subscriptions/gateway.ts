import type { ApolloGateway } from '@apollo/gateway';
import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import { execute, GraphQLError, Kind, OperationTypeNode, type GraphQLSchema } from 'graphql';
import { ErrorCode } from '../../lib/errors.ts';

type GatewayInterface = ApolloServerOptionsWithGateway<BaseContext>['gateway'];

const INTROSPECTION = ['__schema', '__type'];

/**
 * The network graph as Apollo Server serves it over HTTP: the composed API schema extended by
 * `extend` with the gateway's own `Subscription`, so that validation and introspection (GraphiQL,
 * Sandbox, codegen) know `twinEvents`. Apollo's gateway introspects its composed schema only, so
 * the operation's root `__schema` and `__type` fields are answered from the extended schema here
 * (the subgraphs are asked only if it selects anything else); a subscription sent over HTTP is
 * refused, as subscriptions run over WebSocket on the same URL.
 */
export function withSubscriptions(gateway: ApolloGateway, extend: (apiSchema: GraphQLSchema) => GraphQLSchema): GatewayInterface {
  return {
    onSchemaLoadOrUpdate: (callback) =>
      gateway.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => callback({ apiSchema: extend(apiSchema), coreSupergraphSdl })),
    async load(options) {
      const { executor } = await gateway.load(options);
      return {
        executor: async (request) => {
          const { operation, document } = request;
          if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
            throw new GraphQLError('Subscriptions are served over WebSocket (graphql-ws, protocol graphql-transport-ws) at this URL.', {
              extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 400 } },
            });
          }
          const root = operation.selectionSet.selections;
          const selections = root.filter((selection) => selection.kind === Kind.FIELD && INTROSPECTION.includes(selection.name.value));
          if (selections.length === 0) return executor(request);
          const introspection = await execute({
            schema: request.schema,
            document: {
              ...document,
              definitions: document.definitions.map((d) => (d === operation ? { ...operation, selectionSet: { ...operation.selectionSet, selections } } : d)),
            },
            operationName: request.operationName,
            variableValues: request.request.variables,
          });
          if (selections.length === root.length) return introspection;
          const answer = await executor(request);
          return { ...answer, data: answer.data && { ...answer.data, ...introspection.data } };
        },
      };
    },
    stop: () => gateway.stop(),
  };
}
