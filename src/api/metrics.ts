import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.ts';

/** The node's Prometheus registry; values are read from the store at scrape time. */
export function createMetrics(store: Store, isPrimary: () => boolean): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'litefleet_process_' });
  const perDb = (name: string, help: string, read: (c: NonNullable<ReturnType<Store['captures']['get']>>) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['db'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of store.captures.values()) this.set({ db: c.name }, read(c));
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
      this.set(store.captures.size);
    },
  });
  perDb('litefleet_db_txid', 'Last TXID of the database', (c) => c.pos.txid);
  perDb('litefleet_db_commit_count', 'Transactions captured since start', (c) => c.stats.commits);
  perDb('litefleet_db_ltx_count', 'LTX files in the log', (c) => c.log.entries.length);
  perDb('litefleet_capture_snapshot_count', 'Snapshots taken since start', (c) => c.stats.snapshots);
  perDb('litefleet_capture_wal_reset_count', 'WAL resets done by the node since start', (c) => c.stats.resets);
  return registry;
}
