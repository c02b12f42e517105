// `prisma <command> --config prisma/directory.config.ts` for a network's directory store.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'directory/schema.prisma',
  migrations: { path: 'directory/migrations' },
  // Not needed by `prisma generate`; the migrate commands need it.
  datasource: { url: process.env.DATABASE_URL },
});
