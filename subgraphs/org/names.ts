import { assertSlug, fieldName, typePrefix } from '../../lib/ids.ts';

/**
 * The GraphQL names an organization's subgraph uses. Everything an organization adds to the
 * network graph is named from its slug, so that any number of organizations compose without
 * conflicts (federation routes by type and field, never by key value).
 */
export interface OrgNames {
  slug: string;
  /** `AcmeTwin`: the organization's entity type. */
  twin: string;
  /** `acme`: the root field under which the organization's queries and mutations live. */
  field: string;
  /** `AcmeQuery` */
  query: string;
  /** `AcmeMutation` */
  mutation: string;
  /** `AcmeTwinConnection` */
  connection: string;
  /** `AcmeTwinEdge` */
  edge: string;
}

export function orgNames(slug: string): OrgNames {
  const prefix = typePrefix(assertSlug(slug));
  return {
    slug,
    twin: `${prefix}Twin`,
    field: fieldName(slug),
    query: `${prefix}Query`,
    mutation: `${prefix}Mutation`,
    connection: `${prefix}TwinConnection`,
    edge: `${prefix}TwinEdge`,
  };
}
