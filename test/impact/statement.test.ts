import { SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TwinxError } from '../../lib/errors.ts';
import { signImpactStatement, verifyImpactStatement } from '../../lib/impact/statement.ts';
import type { SupplierLoss } from '../../lib/impact/types.ts';
import { NetworkKeys } from '../../lib/tokens/network.ts';
import { IMPACT_AUDIENCE, issuerOf, signToken, TOKEN_ALGORITHM, TOKEN_TYPES } from '../../lib/tokens/tokens.ts';
import { serveOrgKeys } from '../support/jwks.ts';
import { Disposers } from '../support/services.ts';

/**
 * Impact statements, verified as the directory and the gateway verify them: through NetworkKeys,
 * with each member's keys read from its JWKS over HTTP.
 */

const disposers = new Disposers();
const keys: Record<string, { kid: string; privateKey: CryptoKey }> = {};
let network: NetworkKeys;

const now = Date.now();
const outputs: SupplierLoss[] = [{ supplierId: 'acme:press-1', tier: 1, loss: [{ from: now, to: now + 3_600_000, loss: 0.5 }] }];

/** What a refusal says: its code and, for a token refused, the reason. */
async function refusal(promise: Promise<unknown>): Promise<{ code: ErrorCode; reason: unknown }> {
  const error = await promise.then(
    () => expect.fail('accepted'),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(TwinxError);
  return { code: (error as TwinxError).code, reason: (error as TwinxError).details.reason };
}

beforeAll(async () => {
  // mallory has keys of its own but is not a member.
  const served = await serveOrgKeys(disposers, ['acme', 'globex', 'mallory']);
  Object.assign(keys, served.keys);
  network = new NetworkKeys((org) => (org === 'acme' || org === 'globex' ? served.jwksUrl(org) : undefined));
});

afterAll(() => disposers.dispose());

describe('impact statements', () => {
  it('verify to the outputs their organization signed', async () => {
    const statement = await signImpactStatement('acme', outputs, keys.acme!);
    expect(await verifyImpactStatement(statement, network)).toEqual({ org: 'acme', outputs });
  });

  it('refuse a statement altered after signing', async () => {
    const statement = await signImpactStatement('acme', outputs, keys.acme!);
    const [header, payload, signature] = statement.split('.');
    const altered = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(payload!, 'base64url').toString()),
        outputs: [{ ...outputs[0], loss: [{ ...outputs[0]!.loss[0], loss: 1 }] }],
      }),
    ).toString('base64url');
    expect(await refusal(verifyImpactStatement(`${header}.${altered}.${signature}`, network))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'INVALID' });
  });

  it('refuse an expired statement', async () => {
    const expired = await new SignJWT({ outputs })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: keys.acme!.kid, typ: TOKEN_TYPES.impact })
      .setIssuer(issuerOf('acme'))
      .setAudience(IMPACT_AUDIENCE)
      .setJti('old')
      .setIssuedAt(Math.floor(now / 1000) - 600)
      .setExpirationTime(Math.floor(now / 1000) - 480)
      .sign(keys.acme!.privateKey);
    expect(await refusal(verifyImpactStatement(expired, network))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'EXPIRED' });
  });

  it('refuse a statement speaking for another organization’s twin', async () => {
    const statement = await signImpactStatement('acme', [...outputs, { supplierId: 'globex:mill-2', tier: 2, loss: outputs[0]!.loss }], keys.acme!);
    expect((await refusal(verifyImpactStatement(statement, network))).code).toBe(ErrorCode.FOREIGN_ID);
  });

  it('refuse a statement signed by an organization that is not a member, or with another member’s key', async () => {
    const outsider = await signImpactStatement('mallory', [{ ...outputs[0]!, supplierId: 'mallory:x' }], keys.mallory!);
    expect(await refusal(verifyImpactStatement(outsider, network))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'INVALID' });
    const borrowed = await signImpactStatement('acme', outputs, { kid: keys.acme!.kid, privateKey: keys.globex!.privateKey });
    expect(await refusal(verifyImpactStatement(borrowed, network))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'INVALID' });
  });

  it('refuse a grant presented as a statement, and a statement presented as a grant or a member token', async () => {
    const grant = await signToken(
      {
        kind: 'grant',
        org: 'acme',
        jti: 'g-1',
        subject: 'globex',
        scopes: ['twins:read'],
        selector: { ids: [], idGlobs: ['acme:*'], kinds: [], tags: [] },
        expiresAt: new Date(now + 60_000),
      },
      keys.acme!,
    );
    expect(await network.verify(grant, ['grant'])).toMatchObject({ kind: 'grant', org: 'acme' });
    expect(await refusal(verifyImpactStatement(grant, network))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'INVALID' });
    const statement = await signImpactStatement('acme', outputs, keys.acme!);
    expect(await refusal(network.verify(statement, ['member', 'grant']))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'INVALID' });
  });

  it('refuse malformed outputs even when signed', async () => {
    const overlapping = [{ supplierId: 'acme:press-1', tier: 1, loss: [outputs[0]!.loss[0]!, outputs[0]!.loss[0]!] }];
    const statement = await signImpactStatement('acme', overlapping, keys.acme!);
    expect(await refusal(verifyImpactStatement(statement, network))).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: 'INVALID' });
  });
});
