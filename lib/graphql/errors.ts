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

export function formatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof TwinxError) return { ...formatted, message: original.message, extensions: { ...original.details, code: original.code } };
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && APOLLO_REQUEST_CODES.has(code)) return formatted;
    // Raised by us outside resolvers (authentication) and already in the catalogue's terms.
    if (original instanceof GraphQLError && CATALOGUE.has(code)) return formatted;
    const mapped = fromPrismaError(original);
    logger.error({ err: original, path: formatted.path }, 'request failed');
    return { message: mapped.message, path: formatted.path, locations: formatted.locations, extensions: { code: mapped.code } };
  };
}
