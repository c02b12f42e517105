import type { CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldName } from '../../lib/ids.ts';
import { propagate, type SupplyLinkData, type TwinSupply } from '../../lib/impact/propagate.ts';
import { signImpactStatement, verifyImpactStatement } from '../../lib/impact/statement.ts';
import type { ImpactStepRequest } from '../../lib/impact/types.ts';
import { NetworkKeys } from '../../lib/tokens/network.ts';
import type { PresentedToken } from '../../lib/tokens/network.ts';
import { ImpactOrchestrator, type NetworkAnswer } from '../../gateway/impact/orchestrator.ts';
import { serveOrgKeys } from '../support/jwks.ts';
import { Disposers } from '../support/services.ts';

/**
 * The gateway's waves against members that compute their part with the product's own model and
 * sign it with their own keys, and a directory that verifies statements with its own view of the
 * members' keys: it does not know globex's yet, so it refuses globex's statements. initech's
 * furnace feeds globex's press and umbrella's mill; the mill feeds acme's line.
 */

const HOUR = 3_600_000;
const disposers = new Disposers();
const ORGS = ['initech', 'globex', 'umbrella', 'acme'];
const keys: Record<string, { kid: string; privateKey: CryptoKey }> = {};
let gatewayKeys: NetworkKeys;
let directoryKeys: NetworkKeys;

const link = (customerId: string, supplierId: string): SupplyLinkData => ({
  customerId,
  supplierId,
  part: null,
  share: 1,
  leadTimeHours: 1,
  stock: null,
  safetyStock: null,
  consumptionPerDay: null,
  daysOfSupply: null,
});
const twins: Record<string, TwinSupply[]> = {
  initech: [{ twinId: 'initech:furnace', capacityPerDay: null, links: [] }],
  globex: [{ twinId: 'globex:press', capacityPerDay: null, links: [link('globex:press', 'initech:furnace')] }],
  umbrella: [{ twinId: 'umbrella:mill', capacityPerDay: null, links: [link('umbrella:mill', 'initech:furnace')] }],
  acme: [{ twinId: 'acme:line', capacityPerDay: null, links: [link('acme:line', 'umbrella:mill')] }],
};

/** A member's `impactStep` and the directory's `impactRecipients`, as the network graph runs them. */
async function execute(query: string, variables: Record<string, unknown>): Promise<NetworkAnswer> {
  if (query.includes('impactRecipients')) {
    try {
      const verified = await Promise.all((variables.statements as string[]).map((statement) => verifyImpactStatement(statement, directoryKeys)));
      const impactRecipients = verified.flatMap(({ outputs }) =>
        outputs.map(({ supplierId }) => ({
          supplierId,
          orgs: ORGS.filter((org) => twins[org]!.some((twin) => twin.links.some((supply) => supply.supplierId === supplierId))),
        })),
      );
      return { data: { impactRecipients } };
    } catch (error) {
      return { data: null, errors: [{ message: (error as Error).message, extensions: { code: 'UNAUTHENTICATED' } }] };
    }
  }
  const org = ORGS.find((name) => query.includes(`${fieldName(name)} {`))!;
  const request = variables.request as ImpactStepRequest;
  const disruptions = request.disruptions.map((disruption) => ({
    twinId: disruption.twinId,
    from: disruption.from!,
    to: disruption.to!,
    capacity: disruption.capacity,
    predicted: false,
    spreadHours: null,
  }));
  const result = propagate({ ...request, twins: twins[org]!, disruptions, visible: () => true });
  const statement = await signImpactStatement(org, result.outputs, keys[org]!);
  const answer = { disruptions, affected: result.affected, outputs: result.outputs, dependsOn: result.dependsOn, statement, hidden: 0, cycles: [] };
  return { data: { [fieldName(org)]: { impactStep: answer } } };
}

beforeAll(async () => {
  const served = await serveOrgKeys(disposers, ORGS);
  Object.assign(keys, served.keys);
  const jwksOf = (known: string[]) => (org: string) => (known.includes(org) ? served.jwksUrl(org) : undefined);
  gatewayKeys = new NetworkKeys(jwksOf(ORGS));
  directoryKeys = new NetworkKeys(jwksOf(ORGS.filter((org) => org !== 'globex')));
});
afterAll(() => disposers.dispose());

describe('the gateway’s waves', () => {
  it('stops, when the directory refuses one organization’s statement, only that organization’s twins', async () => {
    const now = Math.floor(Date.now() / HOUR) * HOUR;
    const orchestrator = new ImpactOrchestrator({ execute, keys: gatewayKeys, composed: () => true });
    const tokens = ORGS.map((org) => ({ org }) as PresentedToken);
    const answer = await orchestrator.run(
      {
        disruptions: [{ twinId: 'initech:furnace', from: now, to: now + 10 * HOUR, capacity: 0, predicted: false }],
        modifications: { alternates: [], extraStock: [], leadTimes: [] },
        horizonHours: 48,
        maxHops: 12,
        now,
      },
      tokens,
    );
    expect(answer.affected.map((twin) => [twin.twinId, twin.from - now, twin.to - now])).toEqual([
      ['initech:furnace', 0, 10 * HOUR],
      ['globex:press', HOUR, 11 * HOUR],
      ['umbrella:mill', HOUR, 11 * HOUR],
      ['acme:line', 2 * HOUR, 12 * HOUR],
    ]);
    expect(answer.unknown).toEqual([{ org: 'globex', reason: 'UNAVAILABLE', twinIds: ['globex:press'], message: expect.any(String) }]);
    expect(answer.hops).toBe(3);
  });
});
