import {
  Kind,
  visit,
  type ASTNode,
  type DefinitionNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionNode,
} from 'graphql';

/** The operation with only these root selections. */
export function narrowed(operation: OperationDefinitionNode, selections: readonly SelectionNode[]): OperationDefinitionNode {
  return { ...operation, selectionSet: { ...operation.selectionSet, selections } };
}

/**
 * The document as the federated executor validates it: the operation with only `selections`, the
 * fragments they spread and the variables they use (GraphQL refuses unused ones, and the
 * gateway's own input types are unknown to the network graph).
 */
export function federatedDocument(document: DocumentNode, operation: OperationDefinitionNode, selections: readonly SelectionNode[]): DocumentNode {
  const fragments = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const spread = new Map<string, FragmentDefinitionNode>();
  const variables = new Set<string>();
  const collect = (node: ASTNode) =>
    visit(node, {
      FragmentSpread: (node) => {
        const fragment = fragments.get(node.name.value);
        if (fragment && !spread.has(node.name.value)) {
          spread.set(node.name.value, fragment);
          collect(fragment);
        }
      },
      Variable: (node) => void variables.add(node.name.value),
    });
  selections.forEach(collect);
  const definitions: DefinitionNode[] = [
    {
      ...narrowed(operation, selections),
      variableDefinitions: operation.variableDefinitions?.filter((definition) => variables.has(definition.variable.name.value)),
    },
    ...spread.values(),
  ];
  return { ...document, definitions };
}
