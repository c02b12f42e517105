import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { orgNames } from '../../subgraphs/org/names.ts';
import { orgSdl } from '../../subgraphs/org/schema.ts';

describe('organization SDL', () => {
  it('composes with other organizations without conflicts', () => {
    const slugs = ['acme', 'globex', 'initech-steel'];
    const result = composeServices(slugs.map((slug) => ({ name: slug, url: `http://${slug}.invalid/graphql`, typeDefs: parse(orgSdl(orgNames(slug))) })));
    expect(result.errors).toBeUndefined();
    const supergraph = result.supergraphSdl ?? '';
    for (const [type, field] of [
      ['AcmeTwin', 'acme: AcmeQuery!'],
      ['GlobexTwin', 'globex: GlobexQuery!'],
      ['InitechSteelTwin', 'initechSteel: InitechSteelQuery!'],
    ]) {
      expect(supergraph).toContain(`type ${type}`);
      expect(supergraph).toContain(field);
    }
  });

  it('derives distinct names from distinct slugs and refuses slugs that would collide', () => {
    expect(orgNames('ab-c').twin).not.toBe(orgNames('a-bc').twin);
    for (const bad of ['Acme', 'a-1', 'twins', '1acme', 'acme-', 'a--b', '']) expect(() => orgNames(bad)).toThrow(TypeError);
  });
});
