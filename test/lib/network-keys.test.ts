import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, sendJson } from '../../lib/http.ts';
import { signImpactStatement, verifyImpactStatement } from '../../lib/impact/statement.ts';
import { createLogger } from '../../lib/logger.ts';
import { KeyFile } from '../../lib/tokens/key-file.ts';
import { NetworkKeys } from '../../lib/tokens/network.ts';
import { signToken } from '../../lib/tokens/tokens.ts';
import { serveOrgKeys } from '../support/jwks.ts';
import { Disposers } from '../support/services.ts';

/** What the gateway and the directory remember of what they verify, with acme's keys read from its JWKS over HTTP. */

const disposers = new Disposers();
let key: { kid: string; privateKey: CryptoKey };
let network: NetworkKeys;

beforeAll(async () => {
  const served = await serveOrgKeys(disposers, ['acme']);
  key = served.keys.acme!;
  network = new NetworkKeys((org) => (org === 'acme' ? served.jwksUrl(org) : undefined));
});

afterAll(() => disposers.dispose());

describe('NetworkKeys', () => {
  it('remembers a verified token, so that its signature is checked once', async () => {
    const token = await signToken(
      { kind: 'member', org: 'acme', jti: 'm-1', subject: 'engineer', scopes: ['twins:read'], expiresAt: new Date(Date.now() + 3_600_000) },
      key,
    );
    const before = network.remembered;
    const verified = await network.verify(token, ['member']);
    expect(network.remembered).toBe(before + 1);
    expect(await network.verify(token, ['member'])).toBe(verified);
  });

  it('knows a remembered token as a member’s without reading it, until tokens are forgotten', async () => {
    const token = await signToken(
      { kind: 'member', org: 'acme', jti: 'm-2', subject: 'engineer', scopes: ['twins:read'], expiresAt: new Date(Date.now() + 3_600_000) },
      key,
    );
    expect(network.remembers(token)).toBe(false);
    await network.verify(token, ['member']);
    expect(network.remembers(token)).toBe(true);
    network.forgetVerified();
    expect(network.remembers(token)).toBe(false);
  });

  it('does not remember a token whose key was retired while its signature was being checked', async () => {
    const { publicKey, privateKey } = (await generateKeyPair('Ed25519')) as { publicKey: CryptoKey; privateKey: CryptoKey };
    const jwk = { ...(await exportJWK(publicKey)), kid: 'acme-2', alg: 'EdDSA', use: 'sig' };
    await network.retire('acme', 'acme-2', Infinity, jwk);
    const token = await signToken(
      { kind: 'member', org: 'acme', jti: 'm-3', subject: 'engineer', scopes: ['twins:read'], expiresAt: new Date(Date.now() + 3_600_000) },
      { kid: 'acme-2', privateKey },
    );
    // The key is looked up as `verify` is called; the signature is checked after the retirement.
    const verifying = network.verify(token, ['member']);
    expect(await network.retire('acme', 'acme-2', Date.now())).toBe(true);
    await verifying;
    expect(network.remembers(token)).toBe(false);
    await expect(network.verify(token, ['member'])).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('does not remember impact statements: each is verified once, where its answer arrives', async () => {
    const before = network.remembered;
    const now = Date.now();
    for (let step = 0; step < 5; step++) {
      const outputs = [{ supplierId: 'acme:press-1', tier: 1, loss: [{ from: now + step, to: now + step + 3_600_000, loss: 0.5 }] }];
      const statement = await signImpactStatement('acme', outputs, key);
      expect(await verifyImpactStatement(statement, network)).toEqual({ org: 'acme', outputs });
    }
    expect(network.remembered).toBe(before);
  });
});

describe('NetworkKeys, of a member serving what it likes as its JWKS', () => {
  /** What mallory's JWKS answers at each read. */
  let jwks: () => unknown;
  let jwksUrl: string;
  let honest: { kid: string; privateKey: CryptoKey; jwk: Record<string, unknown> };
  const token = () =>
    signToken(
      { kind: 'member', org: 'mallory', jti: randomUUID(), subject: 'eve', scopes: ['twins:read'], expiresAt: new Date(Date.now() + 3_600_000) },
      honest,
    );

  beforeAll(async () => {
    const { publicKey, privateKey } = (await generateKeyPair('Ed25519')) as { publicKey: CryptoKey; privateKey: CryptoKey };
    honest = { kid: 'mallory-1', privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'mallory-1', alg: 'EdDSA', use: 'sig' } };
    const server = createServer((_req, res) => sendJson(res, 200, jwks()));
    jwksUrl = new URL('/jwks.json', await listen(server, 0, '127.0.0.1')).href;
    disposers.add(() => new Promise((resolve) => server.close(resolve)));
  });

  it('keeps 1,100 of its keys at most, however many it makes up, forgetting those retired longest ago', async () => {
    const made = await exportJWK(((await generateKeyPair('Ed25519')) as { publicKey: CryptoKey }).publicKey);
    // At each read, 99 new keys: the previous read's are retired.
    jwks = () => ({ keys: [honest.jwk, ...Array.from({ length: 99 }, () => ({ ...made, kid: randomUUID(), alg: 'EdDSA' }))] });
    const file = new KeyFile(join(mkdtempSync(join(tmpdir(), 'twinx-keys-')), 'keys.json'), createLogger('test', 'silent'));
    const keys = new NetworkKeys((org) => (org === 'mallory' ? jwksUrl : undefined), undefined, undefined, file);
    for (let read = 0; read < 15; read++) await keys.refresh('mallory');
    await file.flush();
    const kept = (JSON.parse(readFileSync(file.path, 'utf8')) as { orgs: Record<string, { keys: { kid: string; retiredAt: number | null }[] }> }).orgs.mallory!
      .keys;
    expect(kept).toHaveLength(1100);
    expect(kept.filter((key) => key.retiredAt === null)).toHaveLength(100);
    expect((await keys.verify(await token(), ['member'])).org).toBe('mallory');
  });

  it('reads no JWKS larger than 256 KiB: its keys stay unknown', async () => {
    jwks = () => ({ keys: [{ ...honest.jwk, padding: 'x'.repeat(300 * 1024) }] });
    const keys = new NetworkKeys((org) => (org === 'mallory' ? jwksUrl : undefined));
    await expect(keys.refresh('mallory')).rejects.toThrow('the answer exceeds 262144 bytes');
    await expect(keys.verify(await token(), ['member'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
