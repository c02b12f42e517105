import { ErrorCode, fail } from './errors.ts';

/**
 * Opaque pagination cursors. The kind tag keeps a cursor of one list from being replayed
 * against another; callers must not parse them.
 */
export function encodeCursor(kind: string, value: string): string {
  return Buffer.from(`${kind}:${value}`, 'utf8').toString('base64url');
}

/** Decodes a cursor of the given kind or throws `INVALID_INPUT` naming the argument. */
export function decodeCursor(kind: string, cursor: string, argument = 'after'): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(`${kind}:`)) throw fail(ErrorCode.INVALID_INPUT, `${argument}: not a cursor of this list.`, { argument });
  return text.slice(kind.length + 1);
}

/** Checks a requested page size against the service's maximum. */
export function pageSize(first: number, max: number, argument = 'first'): number {
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw fail(ErrorCode.INVALID_INPUT, `${argument} must be between 1 and ${max}.`, { argument });
  }
  return first;
}
