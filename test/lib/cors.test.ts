import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetwork, type TestNetwork } from '../support/network.ts';
import { startOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';

const DASHBOARD = 'https://dashboard.example.com';
const ELSEWHERE = 'https://elsewhere.example.com';

const disposers = new Disposers();
let network: TestNetwork;
/** An organization started without `corsOrigins`: the default. */
let plainUrl: string;

beforeAll(async () => {
  network = await startNetwork(disposers, ['acme'], { corsOrigins: [DASHBOARD, 'http://localhost:5173'] });
  plainUrl = (await startOrg(disposers, 'globex')).url;
});
afterAll(() => disposers.dispose());

const SERVICES = {
  gateway: () => network.gateway.url,
  directory: () => network.directory.url,
  organization: () => network.orgs.acme!.url,
};

/** A browser's query from a page on `origin`. */
function query(url: string, origin: string) {
  return fetch(url, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
}

/** A browser's preflight before a query with tokens from a page on `origin`. */
function preflight(url: string, origin: string) {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,twin-grants' },
  });
}

describe.each(Object.keys(SERVICES) as (keyof typeof SERVICES)[])('CORS at the %s', (service) => {
  it('answers the preflight of an allowed origin, and its requests with its origin', async () => {
    const url = SERVICES[service]();
    const answer = await preflight(url, DASHBOARD);
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(answer.headers.get('access-control-allow-methods')).toBe('GET,POST');
    expect(answer.headers.get('access-control-allow-headers')).toBe('authorization,content-type,twin-grants');
    expect(answer.headers.get('vary')).toMatch(/origin/i);

    const response = await query(url, DASHBOARD);
    expect(response.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(response.headers.get('vary')).toMatch(/origin/i);
  });

  it('gives any other origin no CORS header', async () => {
    const url = SERVICES[service]();
    const answer = await preflight(url, ELSEWHERE);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.headers.get('access-control-allow-headers')).toBeNull();
    expect((await query(url, ELSEWHERE)).headers.get('access-control-allow-origin')).toBeNull();
  });
});

it('allows no other origin by default', async () => {
  expect((await preflight(plainUrl, DASHBOARD)).headers.get('access-control-allow-origin')).toBeNull();
  expect((await query(plainUrl, DASHBOARD)).headers.get('access-control-allow-origin')).toBeNull();
});
