import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig, values } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import { runUntilSignal } from '../lib/run.ts';

/**
 * The demo's settings. Its subject prefix and ports are its own (`TWINX_DEMO_*`, never a real
 * network's `TWINX_SUBJECT_PREFIX` or `TWINX_PORT`), with defaults no real network uses.
 */
export const demoSettings = {
  postgresUrl: { flag: 'postgres-url', env: 'TWINX_DEMO_POSTGRES_URL', schema: values.postgresUrl.optional() },
  dataDir: { flag: 'data-dir', env: 'TWINX_DEMO_DIR', schema: z.string().min(1).default('.twinx/demo') },
  port: { flag: 'port', env: 'TWINX_DEMO_PORT', schema: values.port(14000) },
  subjectPrefix: { flag: 'subject-prefix', env: 'TWINX_DEMO_SUBJECT_PREFIX', schema: values.subjectPrefix.default('twinx_demo') },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', schema: values.logLevel.default('warn') },
};

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a local network: its own NATS server, the directory, three organizations with simulated sensors, and the gateway')
    .option('--postgres-url <url>', 'a PostgreSQL server to keep the stores on (env TWINX_DEMO_POSTGRES_URL; default: embedded PGlite)')
    .option('--data-dir <dir>', 'where embedded stores and the tokens file go (env TWINX_DEMO_DIR; default .twinx/demo)')
    .option(
      '--port <port>',
      "the gateway's port; the organizations take the next three, the directory the one 100 above; 0: free ports (env TWINX_DEMO_PORT; default 14000)",
    )
    .option('--subject-prefix <prefix>', 'NATS subject prefix of the demo network (env TWINX_DEMO_SUBJECT_PREFIX; default twinx_demo)')
    .option('--log-level <level>', 'log level (default warn)')
    .action(async (flags: object) => {
      const config = loadConfig(demoSettings, flags, process.env);
      const logger = createLogger('demo', config.logLevel);
      console.log('starting the demo network (the first run sets up its stores; it takes a little longer)...');
      const { runDemo } = await import('../demo/network.ts');
      const demo = await runDemo({ ...config, logger });
      const headers = Object.entries(demo.engineerHeaders)
        .map(([name, value]) => `-H '${name}: ${value}'`)
        .join(' \\\n     ');
      console.log(`
twinx demo network is up.

  console     ${demo.consoleUrl ?? 'not built (node scripts/build-console.mjs)'} (sign in as one of the demo's people)
  gateway     ${demo.gatewayUrl}
  NATS        ${demo.natsUrl} (its own server: every service has credentials of its own)
  tokens      ${demo.tokensFile}

An ACME engineer (ACME viewer who may read analytics, plus grants from Globex and Initech) asking for the network:

curl -s ${demo.gatewayUrl} -H 'content-type: application/json' \\
     ${headers} \\
     -d '{"query":"{ twins(first: 20) { edges { node { id name kind state { status metrics { metric value at } } suppliedBy { id } } } } }"}'

Ctrl-C stops it.`);
      await runUntilSignal(logger, [() => demo.stop()]);
    });
}
