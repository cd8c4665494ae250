import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { migrateAdapter } from './prisma/migrate-adapter.ts';

// Prisma 6 still reads `url = env("DATABASE_URL")` in the schema, even for `prisma generate`; without
// a schema it can read, the CLI falls back to downloading a native engine.
process.env.DATABASE_URL ??= `file:${path.join(import.meta.dirname, 'prisma', 'dev.db')}`;

/**
 * Prisma without downloaded engines: the JavaScript query compiler (`engineType = "client"` in the
 * schema) and the WebAssembly schema engine (`engine: 'js'`) both talk to SQLite through
 * better-sqlite3, so `migrate deploy`, `migrate status`, `generate` and the client work offline.
 */
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join(import.meta.dirname, 'prisma', 'schema.prisma'),
  async adapter() {
    return migrateAdapter(process.env.DATABASE_URL!);
  },
});
