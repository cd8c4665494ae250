import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';

type Connection = Awaited<ReturnType<PrismaBetterSQLite3['connect']>>;
type Query = Parameters<Connection['queryRaw']>[0];

const EXCLUSIVE_LOCKING = /^\s*PRAGMA\s+(main\.)?locking_mode\s*=\s*EXCLUSIVE\s*;?\s*$/i;

/**
 * The better-sqlite3 adapter for Prisma's migrate commands, without the one statement that cannot
 * work on a live replicated database. Prisma's "advisory lock" on SQLite is `PRAGMA
 * main.locking_mode=EXCLUSIVE`: in WAL mode it needs every other connection gone, and litefleet's
 * capture always holds a read, so `migrate deploy` would wait out its busy timeout and fail with
 * SQLITE_BUSY (LiteFS refuses the pragma outright). The native engine skips it when
 * PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK=1 (the Epic Stack sets it); the WebAssembly engine used
 * here has no such switch. The lock only keeps two `migrate` runs apart, and litefleet runs
 * migrations on the primary alone (exec's if-candidate).
 */
export function migrateAdapter(url: string): PrismaBetterSQLite3 {
  const factory = new PrismaBetterSQLite3({ url });
  const guard = async (connecting: Promise<Connection>): Promise<Connection> => {
    const conn = await connecting;
    return new Proxy(conn, {
      get(target, prop) {
        if (prop === 'queryRaw') return (q: Query) => (EXCLUSIVE_LOCKING.test(q.sql) ? Promise.resolve({ columnNames: [], columnTypes: [], rows: [] }) : target.queryRaw(q));
        if (prop === 'executeRaw') return (q: Query) => (EXCLUSIVE_LOCKING.test(q.sql) ? Promise.resolve(0) : target.executeRaw(q));
        if (prop === 'executeScript') return (script: string) => (EXCLUSIVE_LOCKING.test(script) ? Promise.resolve() : target.executeScript(script));
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  return new Proxy(factory, {
    get(target, prop) {
      if (prop === 'connect') return () => guard(target.connect());
      if (prop === 'connectToShadowDb') return () => guard(target.connectToShadowDb());
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
