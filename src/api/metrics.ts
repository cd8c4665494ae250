import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DB } from '../store/db.ts';
import type { Store } from '../store/store.ts';

/**
 * The node's Prometheus registry; values are read from the store at scrape time. Made at the first
 * scrape: prom-client takes 40 ms and 4 MB to load, and its default metrics time the event loop
 * with a 10 ms timer and watch every garbage collection, which a node nobody scrapes should not pay.
 */
export function createMetrics(store: Store, isPrimary: () => boolean): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'litefleet_process_' });
  const perDb = (name: string, help: string, read: (db: DB) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['db'],
      registers: [registry],
      collect() {
        this.reset();
        for (const db of store.dbs.values()) this.set({ db: db.name }, read(db));
      },
    });
  new Gauge({
    name: 'litefleet_is_primary',
    help: '1 when this node is the primary',
    registers: [registry],
    collect() {
      this.set(isPrimary() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'litefleet_db_count',
    help: 'Databases this node follows',
    registers: [registry],
    collect() {
      this.set(store.dbs.size);
    },
  });
  new Gauge({
    name: 'litefleet_db_problem',
    help: '1 for a database this node cannot capture or apply right now (see /health for why)',
    labelNames: ['db'],
    registers: [registry],
    collect() {
      this.reset();
      for (const db of store.dbs.values()) if (db.problem) this.set({ db: db.name }, 1);
      for (const name of store.failed.keys()) this.set({ db: name }, 1);
    },
  });
  perDb('litefleet_db_txid', 'Last TXID of the database', (db) => db.pos.txid);
  perDb('litefleet_db_commit_count', 'Transactions captured since start', (db) => db.capture?.stats.commits ?? 0);
  perDb('litefleet_db_log_bytes', 'Bytes of transactions in the log', (db) => db.log.bytes);
  perDb('litefleet_capture_snapshot_count', 'Snapshots taken since start', (db) => db.capture?.stats.snapshots ?? 0);
  perDb('litefleet_capture_wal_reset_count', 'WAL resets done by the node since start', (db) => db.capture?.stats.resets ?? 0);
  return registry;
}
