import { Kind, parse } from 'graphql';

/**
 * Whether a request body asks for nothing but the subgraph's SDL (`{ _service { sdl } }`), which
 * gateways fetch to compose the network: the contract between organizations, public by nature.
 */
export function isServiceSdlQuery(body: unknown): boolean {
  const query = (body as { query?: unknown } | null)?.query;
  if (typeof query !== 'string' || query.length > 1000) return false;
  try {
    const definitions = parse(query).definitions;
    return definitions.every(
      (definition) =>
        definition.kind === Kind.OPERATION_DEFINITION &&
        definition.operation === 'query' &&
        definition.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && ['_service', '__typename'].includes(selection.name.value)),
    );
  } catch {
    return false;
  }
}
