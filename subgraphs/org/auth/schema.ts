import type { GraphQLResolverMap } from '../../../lib/graphql/resolvers.ts';
import type { OrgContext } from '../context.ts';
import type { OrgNames } from '../names.ts';
import { listKeys, retireVerifyingKey } from './keys.ts';

/** Administration of the organization's signing keys, in its namespace: what `twinx keys` does, over GraphQL. */
export function keysSdl(n: OrgNames): string {
  return /* GraphQL */ `
  "One of the organization's signing keys, as published: never its private half."
  type SigningKey @shareable {
    "RFC 7638 thumbprint of the public key; the kid of the tokens it signs."
    kid: ID!
    createdAt: DateTime!
    "When it was retired: tokens it signed no longer verify. Null while it verifies."
    retiredAt: DateTime
    "Whether it signs new tokens: the newest key that is not retired."
    signing: Boolean!
  }

  extend type ${n.query} {
    "${n.slug}'s signing keys, newest first. Needs grants:admin."
    signingKeys: [SigningKey!]!
  }

  extend type ${n.mutation} {
    "Creates a signing key: it signs from now on, older keys keep verifying until retired."
    rotateSigningKey: SigningKey!
    "Retires a key other than the signing one: tokens it signed stop verifying at once, here and across the network."
    retireSigningKey(kid: ID!): SigningKey!
  }
`;
}

export function keysResolvers(n: OrgNames): GraphQLResolverMap<OrgContext> {
  return {
    [n.query]: {
      signingKeys: (_: unknown, _args: unknown, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        return listKeys(ctx.db);
      },
    },
    [n.mutation]: {
      rotateSigningKey: async (_: unknown, _args: unknown, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const kid = await ctx.keys.rotate();
        return (await listKeys(ctx.db)).find((key) => key.kid === kid);
      },
      retireSigningKey: async (_: unknown, args: { kid: string }, ctx: OrgContext) => {
        ctx.access.require('grants:admin');
        const key = await retireVerifyingKey(ctx.db, ctx.names.slug, args.kid);
        // Answer only once this replica refuses the key's tokens: the admin's next request must see it.
        await ctx.auth.sync();
        return key;
      },
    },
  };
}
