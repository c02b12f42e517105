import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { orgNames } from '../../subgraphs/org/names.ts';
import { orgSdl } from '../../subgraphs/org/schema.ts';
import type { Organization } from '../../subgraphs/directory/registry.ts';
import { directorySdl } from '../../subgraphs/directory/schema.ts';

function member(slug: string): Organization {
  const now = new Date();
  return {
    slug,
    name: slug,
    subgraphUrl: `http://${slug}.invalid/graphql`,
    jwksUrl: `http://${slug}.invalid/.well-known/jwks.json`,
    status: 'ACTIVE',
    createdAt: now,
    updatedAt: now,
  };
}

function compose(directoryMembers: string[], orgs: string[]) {
  return composeServices([
    { name: 'directory', url: 'http://directory.invalid/graphql', typeDefs: parse(directorySdl(directoryMembers.map(member))) },
    ...orgs.map((slug) => ({ name: slug, url: `http://${slug}.invalid/graphql`, typeDefs: parse(orgSdl(orgNames(slug))) })),
  ]);
}

describe('the network graph', () => {
  it('composes the directory with every member organization', () => {
    const result = compose(['acme', 'globex', 'initech'], ['acme', 'globex', 'initech']);
    expect(result.errors?.map((e) => e.message)).toBeUndefined();
    expect(result.supergraphSdl).toContain('interface Twin');
  });

  it('composes with no member yet', () => {
    expect(compose([], []).errors?.map((e) => e.message)).toBeUndefined();
  });

  it('refuses a directory stub for an organization that is not composed (why members start PENDING)', () => {
    expect(compose(['acme', 'globex'], ['acme']).errors?.length).toBeGreaterThan(0);
  });
});
