import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../gateway/console/serve.ts';
import type { Gateway } from '../../gateway/server.ts';
import { ErrorCode } from '../../lib/errors.ts';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { Disposers } from '../support/services.ts';

/** The gateway serves the console at `/`, next to its API, and the demo's sign-in. */

const disposers = new Disposers();
let net: TestNetwork;
/** A gateway serving a built console and a demo's people. */
let gateway: Gateway;
/** The same console, on a gateway that is not a demo's. */
let plain: Gateway;
let base: string;

const INDEX = '<!doctype html><title>twinx</title><script type="module" src="/assets/index-4f2a9c.js"></script>';
const SCRIPT = 'document.title = "twinx console";';
const PERSONAS: Persona[] = [
  { id: 'acme-engineer', name: 'ACME engineer', headers: { authorization: 'Bearer a.b.c', 'twin-grants': 'd.e.f' } },
  { id: 'globex-admin', name: 'Globex admin', headers: { authorization: 'Bearer g.h.i' } },
];
const HTML = { accept: 'text/html,application/xhtml+xml' };

/** The error code of an answer. */
async function codeOf(response: Response): Promise<unknown> {
  return ((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code;
}

/** A GET sent as written, its path not normalized as `fetch` would. */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    request({ host: url.hostname, port: url.port, path, headers: HTML }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

beforeAll(async () => {
  // A secret next to the console's directory: no path reaches it.
  const parent = await mkdtemp(join(tmpdir(), 'twinx-console-'));
  disposers.add(() => rm(parent, { recursive: true, force: true }));
  await writeFile(join(parent, 'secret.txt'), 'not for the web');
  const dir = join(parent, 'dist');
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'index.html'), INDEX);
  await writeFile(join(dir, 'assets', 'index-4f2a9c.js'), SCRIPT);
  net = await startNetwork(disposers, []);
  gateway = await net.startGateway({ consoleDir: dir, demoPersonas: PERSONAS });
  plain = await net.startGateway({ consoleDir: dir });
  base = gateway.consoleUrl!;
});
afterAll(() => disposers.dispose());

describe('the console served by the gateway', () => {
  it('serves its page at / and at every route of its own, never cached, under a policy allowing only the gateway itself', async () => {
    expect(base).toBe(gateway.url.replace('/graphql', '/'));
    const host = new URL(base).host;
    for (const path of ['/', '/map', '/twins/acme:cnc-1']) {
      const response = await fetch(new URL(path, base), { headers: HTML });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      const policy = response.headers.get('content-security-policy')!.split('; ');
      expect(policy).toContain("default-src 'self'");
      expect(policy).toContain("script-src 'self'");
      expect(policy).toContain(`connect-src 'self' ws://${host} wss://${host}`);
      expect(policy).toContain("frame-ancestors 'none'");
      expect(await response.text()).toBe(INDEX);
    }
    // Whatever the client accepts, `/` is the page.
    expect(await (await fetch(base)).text()).toBe(INDEX);
  });

  it('serves its hashed assets with their content type, cached for good', async () => {
    const response = await fetch(new URL('/assets/index-4f2a9c.js', base));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await response.text()).toBe(SCRIPT);
    const head = await fetch(new URL('/assets/index-4f2a9c.js', base), { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(SCRIPT.length));
  });

  it('answers a missing file that is no page with 404 NOT_FOUND, the public port serving no metrics', async () => {
    for (const path of ['/assets/index-000000.js', '/metrics', '/favicon.ico']) {
      const response = await fetch(new URL(path, base));
      expect(response.status, path).toBe(404);
      expect(await codeOf(response)).toBe(ErrorCode.NOT_FOUND);
    }
  });

  it('serves nothing outside its directory, however the path is spelled', async () => {
    for (const path of ['/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e/secret.txt', '/secret.txt%00.js']) {
      const { status, body } = await rawGet(path);
      expect(body, path).not.toContain('not for the web');
      expect([200, 400, 404], path).toContain(status);
    }
    expect((await rawGet('/%E0%A4%A')).status).toBe(400);
  });

  it('is only read: other methods get 405 BAD_REQUEST', async () => {
    const response = await fetch(base, { method: 'POST', body: '{}' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(await codeOf(response)).toBe(ErrorCode.BAD_REQUEST);
  });

  it('leaves the API as it was: /graphql, /healthz, /readyz', async () => {
    expect(await (await fetch(new URL('/healthz', base))).json()).toEqual({ status: 'ok' });
    expect(((await (await fetch(new URL('/readyz', base))).json()) as { status: string }).status).toBe('ready');
    const answer = await fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(await codeOf(answer)).toBe(ErrorCode.UNAUTHENTICATED);
  });
});

describe('demo sign-in', () => {
  it("lists a demo's people with their headers, never cached", async () => {
    const response = await fetch(new URL('/console/personas.json', base));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ personas: PERSONAS });
  });

  it('lists nobody on a gateway that is not a demo’s', async () => {
    const response = await fetch(new URL('/console/personas.json', plain.consoleUrl), { headers: HTML });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ personas: [] });
  });
});
