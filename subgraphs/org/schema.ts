import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLSchema } from 'graphql';
import { mergeResolvers } from '../../lib/graphql/resolvers.ts';
import { reliabilityResolvers, reliabilitySdl } from './analytics/reliability.ts';
import { analyticsResolvers, analyticsSdl } from './analytics/schema.ts';
import { auditResolvers, auditSdl } from './audit/schema.ts';
import { keysResolvers, keysSdl } from './auth/schema.ts';
import type { OrgContext } from './context.ts';
import { grantsResolvers, grantsSdl } from './grants/schema.ts';
import { supplyResolvers, supplySdl } from './supply/schema.ts';
import { twinScalarResolvers, twinValueTypesSdl } from '../../lib/graphql/twin-types.ts';
import type { OrgNames } from './names.ts';
import { telemetryResolvers, telemetrySdl } from './telemetry/schema.ts';
import { guardTwinFields, twinsResolvers, twinsSdl } from './twins/schema.ts';

/** Federation 2.3: entity interfaces in the directory need it (federation-design.md). */
const link = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])`;

/** The SDL an organization contributes to the network graph. */
export function orgSdl(names: OrgNames): string {
  return [
    link,
    twinValueTypesSdl,
    twinsSdl(names),
    telemetrySdl(names),
    analyticsSdl(names),
    reliabilitySdl(names),
    supplySdl(names),
    grantsSdl(names),
    keysSdl(names),
    auditSdl(names),
  ].join('\n');
}

export function orgSchema(names: OrgNames): GraphQLSchema {
  const resolvers = mergeResolvers<OrgContext>(
    twinScalarResolvers,
    twinsResolvers(names),
    telemetryResolvers(names),
    analyticsResolvers(names),
    grantsResolvers(names),
    keysResolvers(names),
    auditResolvers(names),
    reliabilityResolvers(names),
    supplyResolvers(names),
  );
  const schema = buildSubgraphSchema([{ typeDefs: parse(orgSdl(names)), resolvers }]);
  guardTwinFields(schema, names);
  return schema;
}
