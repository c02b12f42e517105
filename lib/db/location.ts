// Where a store lives, as configuration names it: parsed without loading any database driver, so
// that checking a command's settings stays cheap.
import { resolve } from 'node:path';

/**
 * A store location, parsed. As a string, a location is one of:
 * - `postgresql://…` (or `postgres://…`): a database on a PostgreSQL server;
 * - `pglite:<directory>`: an embedded PGlite database kept in that directory, created with its
 *   parents on first open and reopened with its data afterwards (a relative path is resolved
 *   against the working directory);
 * - `pglite:memory`: an embedded database that lives only while it is open. Each open is a new,
 *   empty database: migrate it and use it through the same open store.
 */
export type StoreLocation = { engine: 'postgres'; url: string } | { engine: 'pglite'; dataDir: string } | { engine: 'pglite'; dataDir: null };

const PGLITE_PREFIX = 'pglite:';
const PGLITE_MEMORY = 'memory';

/**
 * Parses a store location (see {@link StoreLocation}).
 * @throws when the string is none of the accepted forms; the message does not repeat the string,
 * which may hold a password.
 */
export function parseStoreLocation(location: string): StoreLocation {
  if (/^postgres(ql)?:\/\//.test(location)) return { engine: 'postgres', url: location };
  if (location.startsWith(PGLITE_PREFIX)) {
    const rest = location.slice(PGLITE_PREFIX.length);
    if (rest === PGLITE_MEMORY) return { engine: 'pglite', dataDir: null };
    // `pglite://…` would be a URL the next reader takes for a host name: refuse it.
    if (rest !== '' && !rest.startsWith('//')) return { engine: 'pglite', dataDir: resolve(rest) };
  }
  throw new Error('invalid store location: expected postgresql://…, pglite:<directory> or pglite:memory');
}

/** True for the locations {@link parseStoreLocation} accepts: for configuration checks. */
export function isStoreLocation(location: string): boolean {
  try {
    parseStoreLocation(location);
    return true;
  } catch {
    return false;
  }
}
