// Start-up: how long each service takes from its process being spawned through the CLI to `/readyz`
// answering 200, in a running network (the directory, one organization, a gateway).
//   npm run bench:startup [-- --runs 5]
import { parseArgs } from 'node:util';
import { cliNetwork, type ServiceProcess } from '../test/support/cli-network.ts';
import { percentile } from './support.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(args.runs);
if (!(RUNS > 0)) throw new TypeError('--runs must be positive');

const network = await cliNetwork({ orgs: ['acme'], gateways: 1 });
try {
  const { directory, orgs, gateways } = network;
  for (const service of [directory, orgs.acme!, gateways[0]!]) {
    service.start();
    await service.ready();
  }
  const measure = async (service: ServiceProcess) => {
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      await service.kill();
      const spawned = service.start();
      await service.ready();
      times.push(performance.now() - spawned);
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(`${service.name.padEnd(12)} median ${percentile(sorted, 50).toFixed(0).padStart(6)} ms   runs ${times.map((t) => t.toFixed(0)).join(', ')}`);
  };
  console.log(`spawn to /readyz 200, ${RUNS} runs each`);
  await measure(directory);
  await measure(orgs.acme!);
  await measure(gateways[0]!);
} finally {
  await network.stop();
}
