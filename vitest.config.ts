import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql ships CommonJS (main) and ESM (module) builds. Node, and so Apollo, load the
    // CommonJS one; Vite would give our code the ESM one, and `instanceof GraphQLError` would
    // then fail across the two. Tests must load what production loads.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // One NATS server (with JWT auth, as a network runs it) for the whole run.
    globalSetup: ['test/support/global-setup.ts'],
    // Tests start real servers against real Postgres and NATS.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll waits for what a browser page or a server shows next: room for a loaded machine.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
  },
});
