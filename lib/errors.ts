import { GraphQLError } from 'graphql';

/**
 * Every error twinx sends to a caller carries one of these codes in `extensions.code`.
 * Clients and tests branch on the code, never on the message text.
 */
export enum ErrorCode {
  /** The HTTP request is not a GraphQL request (e.g. malformed JSON). */
  BAD_REQUEST = 'BAD_REQUEST',
  /** The HTTP request body exceeds the service's limit. */
  REQUEST_TOO_LARGE = 'REQUEST_TOO_LARGE',
  /** An argument or input object is malformed (bad id, bad timestamp, bad range...). */
  INVALID_INPUT = 'INVALID_INPUT',
  /** The twin does not exist, or the caller may not know that it exists. */
  UNKNOWN_TWIN = 'UNKNOWN_TWIN',
  /** The twin exists but does not declare this metric. */
  UNKNOWN_METRIC = 'UNKNOWN_METRIC',
  /** Something other than a twin (a grant, a token, a key) does not exist. */
  NOT_FOUND = 'NOT_FOUND',
  /** A create collided with something that already exists. */
  ALREADY_EXISTS = 'ALREADY_EXISTS',
  /** A batch holds more items than the service accepts in one call. */
  BATCH_TOO_LARGE = 'BATCH_TOO_LARGE',
  /** The operation is larger, deeper or costlier than the service allows; `kind` ('tokens' | 'depth' | 'cost'), `limit`, `actual`. */
  QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX',
  /** A connection asked for more subscriptions (`kind`: 'subscriptions' | 'replays') than the gateway serves on one; `limit`. */
  TOO_MANY_SUBSCRIPTIONS = 'TOO_MANY_SUBSCRIPTIONS',
  /** A subscription asked to resume after an event the stream no longer keeps. */
  CURSOR_EXPIRED = 'CURSOR_EXPIRED',
  /** The caller (its token; without one, its address) sent more requests than the gateway allows; `retryAfterSeconds` (HTTP 429 with `Retry-After`). */
  RATE_LIMITED = 'RATE_LIMITED',
  /** No valid credentials were presented. */
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  /** Valid credentials, but they do not allow this operation. */
  FORBIDDEN = 'FORBIDDEN',
  /**
   * A member organization's answer spoke for another organization (a twin with another
   * organization's id, an object of a type its schema has no place for there) and was refused as
   * a whole; `subgraph` names the member. Nothing of that answer reaches the caller.
   */
  FOREIGN_ID = 'FOREIGN_ID',
  /** A dependency (database, NATS) is unavailable; the operation may be retried. */
  UNAVAILABLE = 'UNAVAILABLE',
  /** Anything else. The details are logged, never sent. */
  INTERNAL = 'INTERNAL',
}

/** Details that may accompany a code, e.g. which batch item failed. */
export type ErrorDetails = Record<string, string | number | boolean | null | undefined>;

/** An error with a stable code; becomes a `GraphQLError` when it leaves a resolver. */
export class TwinxError extends Error {
  /** Where in the response the error lies, when not where it was raised (a subgraph's error, placed by the gateway). */
  responsePath?: readonly (string | number)[];

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'TwinxError';
  }

  /** For errors raised outside resolvers (e.g. authentication, rate limits): 401 for `UNAUTHENTICATED`, 429 with `Retry-After` for `RATE_LIMITED`, 503 for `UNAVAILABLE`. */
  toGraphQLError(): GraphQLError {
    const http =
      this.code === ErrorCode.UNAUTHENTICATED
        ? { http: { status: 401 } }
        : this.code === ErrorCode.RATE_LIMITED
          ? { http: { status: 429, headers: new Map([['retry-after', String(this.details.retryAfterSeconds)]]) } }
          : this.code === ErrorCode.UNAVAILABLE
            ? { http: { status: 503 } }
            : {};
    return new GraphQLError(this.message, { extensions: { ...this.details, code: this.code, ...http } });
  }
}

/** Shorthand used across the code base: `throw fail(ErrorCode.UNKNOWN_TWIN, ...)`. */
export function fail(code: ErrorCode, message: string, details?: ErrorDetails): TwinxError {
  return new TwinxError(code, message, details);
}

/** What a Prisma driver adapter says went wrong (`meta.driverAdapterError.cause.kind`). */
export function driverErrorKind(error: unknown): string | undefined {
  const kind = driverCause(error)?.kind;
  return typeof kind === 'string' ? kind : undefined;
}

function driverCause(error: unknown): { kind?: unknown; code?: unknown } | undefined {
  return (error as { meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown } } } } | null)?.meta?.driverAdapterError?.cause;
}

/** Driver failures that pass: the database is down, restarting or overloaded. */
const TRANSIENT = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TlsConnectionError',
  'TransactionWriteConflict',
]);

/**
 * SQLSTATEs of a server going away or not there yet (PostgreSQL, Appendix A): class 08
 * (connection exceptions), 57P01 admin_shutdown (a fast shutdown ends open sessions), 57P02
 * crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down, in recovery).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123])$/;

/** Prisma's own codes for a database it cannot reach or lost (P1001, P1002, P1017) or whose pool is exhausted (P2024). */
const UNAVAILABLE_PRISMA = new Set(['P1001', 'P1002', 'P1017', 'P2024']);

/** Socket failures on the way to the database, when they reach us unwrapped. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND']);

/**
 * What node-postgres (pg 8, pg-pool 3) throws, with no code, when a connection broke or never came:
 * Prisma's adapter passes these on as they are.
 */
const CONNECTION_LOST = new Set([
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
]);

/** Whether the error says the database is unreachable, restarting or overloaded: worth trying again, never the data's fault. */
function storeUnavailable(error: unknown): boolean {
  const kind = driverErrorKind(error);
  if (kind !== undefined && TRANSIENT.has(kind)) return true;
  const sqlState = kind === 'postgres' ? driverCause(error)?.code : (error as { code?: unknown } | null)?.code;
  if (typeof sqlState === 'string' && (UNAVAILABLE_SQLSTATE.test(sqlState) || UNAVAILABLE_PRISMA.has(sqlState) || SOCKET_CODES.has(sqlState))) return true;
  return error instanceof Error && CONNECTION_LOST.has(error.message);
}

/**
 * Maps an error thrown by Prisma (client or driver adapter) to the catalogue. Only known,
 * caller-caused failures keep their meaning; a database that is down or restarting is
 * `UNAVAILABLE`; everything else becomes `INTERNAL`, so that no SQL or schema detail reaches a caller.
 */
export function fromPrismaError(error: unknown): TwinxError {
  if (error instanceof TwinxError) return error;
  if (storeUnavailable(error)) return fail(ErrorCode.UNAVAILABLE, 'The store is unavailable, try again.');
  if (driverErrorKind(error) === 'UniqueConstraintViolation') return fail(ErrorCode.ALREADY_EXISTS, 'Already exists.');
  switch ((error as { code?: unknown } | null)?.code) {
    case 'P2002':
      return fail(ErrorCode.ALREADY_EXISTS, 'Already exists.');
    case 'P2025':
      return fail(ErrorCode.UNKNOWN_TWIN, 'Not found.');
    default:
      return fail(ErrorCode.INTERNAL, 'Internal error.');
  }
}
