import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliNetwork, type CliNetwork } from '../support/cli-network.ts';
import { graphql } from '../support/graphql.ts';
import { bearer } from '../support/org.ts';
import { Disposers, eventually, POSTGRES_URL } from '../support/services.ts';

const disposers = new Disposers();
afterAll(() => disposers.dispose());

const HOOK = new URL('../support/outbound-connections.mjs', import.meta.url).href;
const port = (url: string) => Number(new URL(url).port);

describe('services started through the CLI', () => {
  it('connect to nothing they are not configured with, from start to stop', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twinx-outbound-'));
    disposers.add(() => rm(dir, { recursive: true, force: true }));
    const log = join(dir, 'connections.jsonl');
    const network: CliNetwork = await cliNetwork({ orgs: ['acme'], gateways: 1, env: { NODE_OPTIONS: `--import=${HOOK}`, TWINX_TEST_CONNECTIONS: log } });
    disposers.add(() => network.stop());
    const { directory, orgs, gateways } = network;
    const [acme, gateway] = [orgs.acme!, gateways[0]!];
    // The directory first: it creates the network's streams.
    directory.start();
    await directory.ready();
    for (const service of [acme, gateway]) service.start();
    await acme.ready();
    // acme composed and its keys read: its tokens verify.
    await gateway.ready((body) => (body.members as string[]).includes('acme:ACTIVE') && (body.issuersUnread as string[]).length === 0);
    // Every service has answered through the network graph once.
    const answer = await graphql(gateway.url, '{ twins(first: 1) { edges { node { id } } } }', {}, bearer(network.adminTokens.acme!));
    expect(answer.errors).toBeUndefined();
    for (const service of [gateway, acme, directory]) await service.kill();

    const configured = new Set([POSTGRES_URL, network.natsUrl, directory.url, acme.url, gateway.url].map((url) => `127.0.0.1:${port(url)}`));
    const connections = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { host: string; port: number });
    // The services did connect (the hook is loaded), only where configured.
    expect(connections.length).toBeGreaterThan(0);
    expect(connections.map(({ host, port }) => `${host}:${port}`).filter((to) => !configured.has(to))).toEqual([]);
  });

  it('a gateway starts while the directory is down, says so on /readyz, and is ready once the directory is back', { timeout: 120_000 }, async () => {
    const network = await cliNetwork({ orgs: ['acme'], gateways: 1 });
    disposers.add(() => network.stop());
    const { directory, orgs, gateways } = network;
    const [acme, gateway] = [orgs.acme!, gateways[0]!];
    directory.start();
    await directory.ready();
    acme.start();
    await acme.ready();
    await directory.kill('SIGKILL');

    gateway.start();
    await eventually(
      async () => {
        const { status, body } = await gateway.readiness();
        expect({ status, directory: (body as { directory?: boolean }).directory }).toEqual({ status: 503, directory: false });
      },
      { timeout: 30_000 },
    );
    directory.start();
    await gateway.ready((body) => body.directory === true && (body.members as string[]).includes('acme:ACTIVE'), 30_000);
    const answer = await graphql(gateway.url, '{ twins(first: 1) { edges { node { id } } } }', {}, bearer(network.adminTokens.acme!));
    expect(answer.errors).toBeUndefined();
  });

  it('a gateway that cannot start ends its process (with status 1) so that a supervisor starts it again', { timeout: 120_000 }, async () => {
    const network = await cliNetwork({ orgs: [], gateways: 1 });
    disposers.add(() => network.stop());
    const gateway = network.gateways[0]!;
    // No directory has ever run: the network's streams do not exist, the gateway cannot follow them.
    gateway.start();
    const [code] = (await once(gateway.child!, 'exit')) as [number | null];
    expect(code).toBe(1);
  });
});
