/*
 * The GraphQL names derived from an organization's slug. Free of imports: the console names an
 * organization's root field with them too.
 */

/** `globex-steel` → `GlobexSteel` */
export function typePrefix(slug: string): string {
  return slug
    .split('-')
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join('');
}

/** `globex-steel` → `globexSteel` */
export function fieldName(slug: string): string {
  const prefix = typePrefix(slug);
  return prefix[0]!.toLowerCase() + prefix.slice(1);
}
