import { z } from 'zod';
import { getJson } from '../http.ts';
import type { Logger } from '../logger.ts';
import type { NetworkKeys } from './network.ts';

/**
 * Where an organization publishes the access it closed: its revoked tokens that have not
 * expired yet, and its retired keys. The organization is the source of truth; gateways and
 * the directory read it when they start and now and then, so that an announcement they missed
 * (or a revocations stream that was lost or purged) never reopens access.
 */
export const REVOCATIONS_PATH = '/.well-known/twinx/revocations';

const revocationListSchema = z.object({
  revoked: z.array(z.object({ jti: z.string().min(1).max(128), kind: z.enum(['GRANT', 'MEMBER']), expiresAt: z.iso.datetime({ offset: true }) })).max(100_000),
  /** Retired keys with their public halves: what they signed before their retirement still verifies (events kept in streams). */
  retiredKeys: z
    .array(z.object({ kid: z.string().min(1).max(128), retiredAt: z.iso.datetime({ offset: true }), jwk: z.object({ kid: z.string() }).passthrough() }))
    .max(1000),
});

export type RevocationList = z.infer<typeof revocationListSchema>;

/** Largest revocation list read: 100,000 revoked tokens and 1,000 retired keys take about 15 MiB. */
const MAX_REVOCATIONS_BYTES = 16 * 1024 * 1024;

/** Reads an organization's revocation list from beside its GraphQL endpoint. */
async function fetchRevocations(subgraphUrl: string, timeoutMs = 3000): Promise<RevocationList> {
  return revocationListSchema.parse(await getJson(new URL(REVOCATIONS_PATH, subgraphUrl), timeoutMs, MAX_REVOCATIONS_BYTES));
}

/**
 * Reads each member's keys (JWKS) and revocation list, and hands each list to `apply`: what
 * gateways and the directory do when they start, when a member joins and now and then. A member
 * that cannot be read is logged and read again next time; the slugs of those are returned.
 */
export async function readMembersAccess(
  members: readonly { slug: string; subgraphUrl: string }[],
  keys: Pick<NetworkKeys, 'refresh'>,
  apply: (org: string, list: RevocationList) => Promise<void>,
  logger: Logger,
): Promise<string[]> {
  const unread = await Promise.all(
    members.map(async (member) => {
      try {
        await Promise.all([keys.refresh(member.slug), fetchRevocations(member.subgraphUrl).then((list) => apply(member.slug, list))]);
        return [];
      } catch (error) {
        logger.warn({ err: error, org: member.slug }, 'keys or revocation list not read, will retry');
        return [member.slug];
      }
    }),
  );
  return unread.flat();
}
