import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../lib/errors.ts';
import { sendError, sendJson, type Route } from '../../lib/http.ts';

/** The console this package builds (`node scripts/build-console.mjs`), when it is built. */
export const BUILT_CONSOLE_DIR = fileURLToPath(new URL('../../console/dist/', import.meta.url));

/** Someone the console offers to sign in as, with the headers their client sends (`authorization`, `twin-grants`). */
export interface Persona {
  id: string;
  name: string;
  headers: Record<string, string>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Files under this path are named by their content's hash: they never change, and are cached for a year. */
const HASHED = '/assets/';

/** A `Host` header fit to name in a policy: a host name or address and a port, nothing else. */
const HOST = /^(?:[a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/i;

/**
 * The console's pages may load only what this gateway serves, and talk only to it (its
 * `/graphql`, over HTTP and WebSocket); no other site may frame them.
 */
function contentSecurityPolicy(host: string | undefined): string {
  const webSocket = host !== undefined && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${webSocket}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers of every console response: its policy, and no guessing of content types or leaking of addresses. */
function securityHeaders(req: IncomingMessage): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(req.headers.host),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
}

/** The regular file at `path`, with its size, or none. */
async function fileAt(path: string): Promise<{ path: string; size: number } | undefined> {
  const found = await stat(path).catch(() => undefined);
  return found?.isFile() ? { path, size: found.size } : undefined;
}

/**
 * Serves the built console from `dir`: its files as they are, and `index.html` for any other
 * page a browser asks for (the console's own routes, `/map`, `/twins/…`).
 */
export function consoleRoute(dir: string): Route {
  const root = resolve(dir);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendError(res, 405, ErrorCode.BAD_REQUEST, 'The console is read with GET.');
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return sendError(res, 400, ErrorCode.BAD_REQUEST, 'The path is not valid.');
    }
    const path = join(root, pathname === '/' ? 'index.html' : pathname);
    // Nothing outside the console's directory is served, whatever the path spells.
    const file = !pathname.includes('\0') && path.startsWith(root + sep) ? await fileAt(path) : undefined;
    // A page a browser navigates to is the console's to route; anything else missing is not found.
    if (!file && !req.headers.accept?.includes('text/html')) return sendError(res, 404, ErrorCode.NOT_FOUND, `No file ${pathname}.`);
    const served = file ?? (await fileAt(join(root, 'index.html')));
    if (!served) return sendError(res, 404, ErrorCode.NOT_FOUND, 'The console is not built: run node scripts/build-console.mjs.');
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(served.path)] ?? 'application/octet-stream',
      'content-length': String(served.size),
      // The page itself is asked again each time, so that a new console is seen at once.
      'cache-control': pathname.startsWith(HASHED) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...securityHeaders(req),
    });
    if (req.method === 'HEAD') return void res.end();
    await pipeline(createReadStream(served.path), res);
  };
}

/**
 * `GET /console/personas.json`: the people a demo network offers to sign in as, with their
 * tokens; none on any other gateway (an empty list, not an error the console's sign-in page would log).
 */
export function personasRoute(personas: readonly Persona[] | undefined): Route {
  const body = { personas: personas ?? [] };
  return (_req, res) => sendJson(res, 200, body, { 'cache-control': 'no-store' });
}

/** The console's directory: the one given, else this package's built console when there is one. */
export function consoleDirectory(given: string | undefined): string | undefined {
  if (given !== undefined) return given;
  return existsSync(join(BUILT_CONSOLE_DIR, 'index.html')) ? BUILT_CONSOLE_DIR : undefined;
}
