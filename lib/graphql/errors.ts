import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, fromPrismaError, TwinxError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * Apollo's own request errors (parse, validation, bad variables) keep their codes. Our errors
 * keep theirs. Anything else is logged and leaves as `INTERNAL`/`UNAVAILABLE` with no detail:
 * no stack, SQL or driver message reaches a caller.
 */
const APOLLO_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
]);

const CATALOGUE = new Set<unknown>(Object.values(ErrorCode));

/** Our error behind a GraphQL error: thrown by a resolver, or given by a subgraph to the gateway (which wraps it without a path). */
function twinxErrorOf(error: unknown): TwinxError | undefined {
  const original = unwrapResolverError(error);
  if (original instanceof TwinxError) return original;
  return original instanceof GraphQLError && original.originalError instanceof TwinxError ? original.originalError : undefined;
}

export function formatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const twinx = twinxErrorOf(error);
    if (twinx) {
      const path = twinx.responsePath ?? formatted.path;
      return { message: twinx.message, locations: formatted.locations, ...(path ? { path } : {}), extensions: { ...twinx.details, code: twinx.code } };
    }
    const original = unwrapResolverError(error);
    const code = formatted.extensions?.code;
    // A scalar's refusal of a literal argument reaches us as a validation error: its code counts.
    const cause = original instanceof GraphQLError ? original.originalError : undefined;
    if (cause instanceof GraphQLError && cause.extensions.code === ErrorCode.INVALID_INPUT)
      return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.INVALID_INPUT } };
    if (typeof code === 'string' && APOLLO_REQUEST_CODES.has(code)) return formatted;
    // Raised by us outside resolvers (authentication) and already in the catalogue's terms.
    if (original instanceof GraphQLError && CATALOGUE.has(code)) return formatted;
    // A failure before execution (the request's context) comes wrapped: what failed is inside.
    const mapped = fromPrismaError(cause ?? original);
    logger.error({ err: original, path: formatted.path }, 'request failed');
    return { message: mapped.message, path: formatted.path, locations: formatted.locations, extensions: { code: mapped.code } };
  };
}
