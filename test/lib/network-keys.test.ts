import type { CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signImpactStatement, verifyImpactStatement } from '../../lib/impact/statement.ts';
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
