// Generates the Prisma clients of every store (`prisma generate` for each config).
// Prisma's CLI fetches its schema-engine binary before any command, even ones that never use
// it. `generate` does not, so when no binary is configured we point Prisma at any executable:
// this keeps `npm install` working on machines that reach only the npm registry.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath };
for (const store of ['org', 'directory']) {
  execFileSync(process.execPath, [cli, 'generate', '--config', `prisma/${store}.config.ts`], { stdio: 'inherit', env });
}
