import { ErrorCode, fail } from './errors.ts';

/**
 * Opaque pagination cursors. The kind tag keeps a cursor of one list from being replayed
 * against another; callers must not parse them.
 */
export function encodeCursor(kind: string, value: string): string {
  return Buffer.from(`${kind}:${value}`, 'utf8').toString('base64url');
}

/** Decodes a cursor of the given kind or throws `INVALID_INPUT` naming the argument (`field`). */
export function decodeCursor(kind: string, cursor: string, argument = 'after'): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // Only what encodeCursor made: no other spelling, no NUL (which no store accepts in text).
  if (!text.startsWith(`${kind}:`) || text.includes('\0') || encodeCursor(kind, text.slice(kind.length + 1)) !== cursor)
    throw fail(ErrorCode.INVALID_INPUT, `${argument}: not a cursor of this list.`, { field: argument });
  return text.slice(kind.length + 1);
}

/** Decodes a cursor on a position (a sequence, a row id, a time in ms): a safe non-negative integer, else `INVALID_INPUT`. */
export function decodePositionCursor(kind: string, cursor: string, argument = 'after'): number {
  const text = decodeCursor(kind, cursor, argument);
  const position = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(position)) throw fail(ErrorCode.INVALID_INPUT, `${argument}: not a cursor of this list.`, { field: argument });
  return position;
}

/** Checks a requested page size against the service's maximum. */
export function pageSize(first: number, max: number, argument = 'first'): number {
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw fail(ErrorCode.INVALID_INPUT, `${argument} must be between 1 and ${max}.`, { field: argument });
  }
  return first;
}

/** One page of a list: its rows, and whether more follow. */
export interface Page<T> {
  rows: T[];
  hasNextPage: boolean;
}

/** The page in rows read with `take: first + 1`: the extra row only says that more follow. */
export function pageOf<T>(rows: T[], first: number): Page<T> {
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

/** A page as a GraphQL connection: edges with cursors of the given kind (on `key`), and pageInfo. */
export function connection<T>(kind: string, page: Page<T>, key: (node: T) => string) {
  const edges = page.rows.map((node) => ({ cursor: encodeCursor(kind, key(node)), node }));
  return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
