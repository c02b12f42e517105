// `prisma <command> --config prisma/org.config.ts` for an organization store.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'org/schema.prisma',
  migrations: { path: 'org/migrations' },
  // Not needed by `prisma generate`; the migrate commands need it.
  datasource: { url: process.env.DATABASE_URL },
});
