import { z } from 'zod';

/**
 * Where an organization publishes the access it closed: its revoked tokens that have not
 * expired yet, and its retired keys. The organization is the source of truth; gateways and
 * the directory read it when they start and now and then, so that an announcement they missed
 * (or a revocations stream that was lost or purged) never reopens access.
 */
export const REVOCATIONS_PATH = '/.well-known/twinx/revocations';

export const revocationListSchema = z.object({
  revoked: z.array(z.object({ jti: z.string().min(1).max(128), kind: z.enum(['GRANT', 'MEMBER']), expiresAt: z.iso.datetime({ offset: true }) })).max(100_000),
  /** Retired keys with their public halves: what they signed before their retirement still verifies (events kept in streams). */
  retiredKeys: z
    .array(z.object({ kid: z.string().min(1).max(128), retiredAt: z.iso.datetime({ offset: true }), jwk: z.object({ kid: z.string() }).passthrough() }))
    .max(1000),
});

export type RevocationList = z.infer<typeof revocationListSchema>;

/** Reads an organization's revocation list from beside its GraphQL endpoint. */
export async function fetchRevocations(subgraphUrl: string, timeoutMs = 3000): Promise<RevocationList> {
  const response = await fetch(new URL(REVOCATIONS_PATH, subgraphUrl), { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${REVOCATIONS_PATH}: HTTP ${response.status}`);
  return revocationListSchema.parse(await response.json());
}
