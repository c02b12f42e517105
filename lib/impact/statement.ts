import { randomUUID } from 'node:crypto';
import { SignJWT, type CryptoKey } from 'jose';
import { ErrorCode, fail } from '../errors.ts';
import { parseTwinId } from '../ids.ts';
import type { NetworkKeys } from '../tokens/network.ts';
import { IMPACT_AUDIENCE, issuerOf, TOKEN_ALGORITHM, TOKEN_TYPES } from '../tokens/tokens.ts';
import type { SupplierLoss } from './types.ts';

/** How long a statement counts, in seconds: one impact question's time, not more. */
const STATEMENT_LIFETIME_SECONDS = 120;

/**
 * An organization's signed word on the lost output of its own twins, for the next hop of an
 * impact question: a JWS with its own `typ` (RFC 8725 §3.11), so that it never passes as a
 * token giving access, nor a token as a statement.
 */
export function signImpactStatement(org: string, outputs: SupplierLoss[], key: { kid: string; privateKey: CryptoKey }): Promise<string> {
  return new SignJWT({ outputs })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: key.kid, typ: TOKEN_TYPES.impact })
    .setIssuer(issuerOf(org))
    .setAudience(IMPACT_AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt()
    .setNotBefore('0s')
    .setExpirationTime(`${STATEMENT_LIFETIME_SECONDS}s`)
    .sign(key.privateKey);
}

/**
 * Verifies a statement with its signer's keys (`UNAUTHENTICATED` with a reason when it is not
 * one, `UNAVAILABLE` when its signer cannot be reached to learn its key), and that it speaks for
 * the signer's own twins only (`FOREIGN_ID`).
 */
export async function verifyImpactStatement(token: string, keys: Pick<NetworkKeys, 'verify'>): Promise<{ org: string; outputs: SupplierLoss[] }> {
  const { org, outputs } = await keys.verify(token, ['impact']);
  const foreign = outputs.find((output) => parseTwinId(output.supplierId)?.org !== org);
  if (foreign)
    throw fail(ErrorCode.FOREIGN_ID, `The impact statement of ${org} speaks for a twin of another organization.`, { org, twinId: foreign.supplierId });
  return { org, outputs };
}
