import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '@prisma/client';

/** Prisma Client on the database litefleet replicates (`DATABASE_URL=file:<dir>/sqlite.db`). */
export function createPrisma(url = process.env.DATABASE_URL): PrismaClient {
  if (!url) throw new Error('set DATABASE_URL (file:/path/to/sqlite.db)');
  // A busy timeout rides out the few milliseconds the node holds the write lock to restart the WAL.
  return new PrismaClient({ adapter: new PrismaBetterSQLite3({ url, timeout: 5000 }) });
}
