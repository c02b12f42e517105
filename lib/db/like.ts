// Prisma's `startsWith`, `endsWith` and `contains` put the string they are given into a LIKE
// pattern as it is (Prisma 7.10 on PostgreSQL and PGlite): a `_` or `%` in it is a wildcard,
// and local twin ids may hold `_`. Filters that must mean what they say go through here.

/** `text` as a LIKE pattern that matches it literally (`\` is LIKE's default escape character). */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

/**
 * Rows whose id or name holds `text`, whatever the case: the `text` filter of twin lists, at
 * organizations and in the directory's catalog alike.
 */
export function textWhere(text: string) {
  const holds = { contains: likeLiteral(text), mode: 'insensitive' as const };
  return { OR: [{ id: holds }, { name: holds }] };
}
