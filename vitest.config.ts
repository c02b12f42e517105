import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real servers against real Postgres and NATS.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
