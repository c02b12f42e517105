import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.ts';
import { openOrgAuth } from '../../subgraphs/org/main.ts';
import { codes } from '../support/graphql.ts';
import { bearer, KEY_SECRET, startOrg, type TestOrg } from '../support/org.ts';
import { Disposers } from '../support/services.ts';
import { twinx } from '../support/cli.ts';

const disposers = new Disposers();
let acme: TestOrg;

const WRONG_SECRET = 'not-the-secret-the-keys-were-stored-with';
const TWINS = `{ acme { twins(first: 1) { edges { cursor } } } }`;

/** How each way of administering is told where the organization is (remotely: with an admin token signed by the current key). */
const WAYS = {
  remote: async () => ({ TWINX_URL: acme.url, TWINX_TOKEN: await acme.memberToken('admin') }),
  database: async () => ({ DATABASE_URL: acme.databaseUrl, TWINX_ORG: 'acme', TWINX_KEY_SECRET: KEY_SECRET }),
};

/** The last line of a command's output: the token it printed. */
const lastLine = (text: string) => text.trim().split('\n').at(-1)!;

beforeAll(async () => {
  acme = await startOrg(disposers, 'acme');
});
afterAll(() => disposers.dispose());

describe.each(Object.keys(WAYS) as (keyof typeof WAYS)[])('twinx grant, token and keys (%s)', (way) => {
  const run = async (...args: string[]) => twinx(args, await WAYS[way]());

  it('issues a grant, lists it, and revokes it', async () => {
    const issued = await run('grant', 'issue', '--partner', 'globex', '--scopes', 'twins:read', '--kinds', 'press', '--expires-in', '1d', '--note', way);
    expect(issued.stderr).toBe('');
    const jti = /^grant (\S+) for globex: twins:read, expires \S+$/m.exec(issued.stdout)?.[1];
    expect(jti).toBeDefined();
    const row = await acme.db.token.findUniqueOrThrow({ where: { jti } });
    expect(row).toMatchObject({ kind: 'GRANT', subject: 'globex', scopes: ['twins:read'], note: way });
    expect(lastLine(issued.stdout).split('.')).toHaveLength(3);

    const listed = await run('grant', 'list', '--partner', 'globex');
    expect(listed.stdout).toContain(`${jti}  globex  twins:read  {"ids":[],"idGlobs":[],"kinds":["press"],"tags":[]}  expires `);
    expect(listed.stdout).toContain(`"${way}"`);

    expect((await run('grant', 'revoke', jti!)).stdout.trim()).toBe(`revoked ${jti}`);
    expect((await run('grant', 'list')).stdout).not.toContain(jti);
    expect((await run('grant', 'list', '--all')).stdout).toMatch(new RegExp(`^${jti} .* revoked \\S+  "${way}"$`, 'm'));
  });

  it('issues a member token that works, and revokes it', async () => {
    const issued = await run('token', 'issue', '--subject', `svc:${way}`, '--role', 'viewer', '--expires-in', '1h');
    const jti = /^member token (\S+) for svc:\w+: twins:read telemetry:read twins:subscribe analytics:read supply:read, expires /m.exec(issued.stdout)?.[1];
    expect(jti).toBeDefined();
    const token = lastLine(issued.stdout);
    expect((await acme.request(TWINS, {}, bearer(token))).errors).toBeUndefined();

    expect((await run('token', 'revoke', jti!)).stdout.trim()).toBe(`revoked ${jti}`);
    expect(codes(await acme.request(TWINS, {}, bearer(token)))).toEqual(['UNAUTHENTICATED']);
  });

  it('rotates, lists and retires signing keys, never the signing one', async () => {
    const before = (await run('keys', 'list')).stdout;
    const signing = /^(\S+) {2}created \S+ {2}signing$/m.exec(before)![1]!;

    const rotated = /^signing key (\S+)$/.exec((await run('keys', 'rotate')).stdout.trim())?.[1];
    expect(rotated).toBeDefined();
    const listed = (await run('keys', 'list')).stdout;
    expect(listed).toMatch(new RegExp(`^${rotated} {2}created \\S+ {2}signing$`, 'm'));
    expect(listed).toMatch(new RegExp(`^${signing} {2}created \\S+ {2}verifying$`, 'm'));

    const refused = await run('keys', 'retire', rotated!);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${rotated} is the signing key: rotate first`);

    // A thumbprint may start with "-": taken as the key id, not as an option.
    const dashed = await run('keys', 'retire', '-SI5rJwrz4VXlgZHnylVW2URwoCgme1K3FxeX_mWegc');
    expect(dashed.code).toBe(1);
    expect(dashed.stderr).toContain('No active key -SI5rJwrz4VXlgZHnylVW2URwoCgme1K3FxeX_mWegc.');

    expect((await run('keys', 'retire', signing)).stdout.trim()).toBe(`retired ${signing}`);
    expect((await run('keys', 'list')).stdout).toMatch(new RegExp(`^${signing} {2}created \\S+ {2}retired \\S+$`, 'm'));
  });
});

describe('twinx remote administration', () => {
  it('refuses a token without grants:admin, and says why', async () => {
    const viewer = await acme.memberToken('viewer');
    const before = await acme.db.token.count({ where: { kind: 'GRANT' } });
    const refused = await twinx(['grant', 'issue', '--partner', 'globex', '--scopes', 'twins:read', '--kinds', 'press', '--expires-in', '1d'], {
      TWINX_URL: acme.url,
      TWINX_TOKEN: viewer,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^twinx: FORBIDDEN: /);
    expect(await acme.db.token.count({ where: { kind: 'GRANT' } })).toBe(before);
    expect((await twinx(['keys', 'list'], { TWINX_URL: acme.url, TWINX_TOKEN: viewer })).stderr).toMatch(/^twinx: FORBIDDEN: /);
  });

  it('refuses a token of no organization before sending anything', async () => {
    const refused = await twinx(['grant', 'list', '--url', acme.url, '--token', 'not-a-jwt']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe('twinx: invalid configuration: --token / TWINX_TOKEN: expected a member token of an organization');
  });
});

describe('a wrong key secret', () => {
  it('stops a command that signs before it signs anything', async () => {
    const before = await acme.db.token.count();
    const refused = await twinx(['token', 'issue', '--subject', 'alice', '--role', 'viewer', '--expires-in', '1h'], {
      DATABASE_URL: acme.databaseUrl,
      TWINX_ORG: 'acme',
      TWINX_KEY_SECRET: WRONG_SECRET,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^twinx: the key secret \(--key-secret \/ TWINX_KEY_SECRET\) does not decrypt signing key \S+: /);
    expect(await acme.db.token.count()).toBe(before);
  });

  it('stops a service at start', async () => {
    const opening = openOrgAuth({ org: 'acme', databaseUrl: acme.databaseUrl, keySecret: WRONG_SECRET }, createLogger('test', 'silent'), 'no signing key');
    await expect(opening).rejects.toThrow(/^the key secret \(--key-secret \/ TWINX_KEY_SECRET\) does not decrypt signing key /);
  });
});
