/**
 * `litefleet/client`: what an app needs to know and do about the cluster, from its own code.
 *
 * ```ts
 * import { getInstanceInfo, ensurePrimary, openDatabase, waitForTxid, waitForReplicas } from 'litefleet/client';
 *
 * const { currentIsPrimary, primaryInstance } = await getInstanceInfo();
 * const sqlite = await openDatabase('sqlite.db');       // read-only here unless this node is primary
 * sqlite.db.prepare('SELECT * FROM notes').all();
 * await ensurePrimary();                                 // throws PrimaryRequiredError on a replica
 * await waitForTxid('sqlite.db', 42, { timeout: 5000 }); // read your own writes
 * await waitForReplicas('sqlite.db', 42, 1);             // a write that survives the primary's crash
 * ```
 *
 * The node is found at `LITEFLEET_URL` (set for apps started by `litefleet run`; default
 * http://127.0.0.1:20202) with the cluster token in `LITEFLEET_TOKEN`; both can be passed instead.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { followEvents } from '../protocol/events.ts';
import { getInstanceInfo, nodeOptions, type NodeOptions } from './instance.ts';

export { ensurePrimary, getInstanceInfo, PrimaryRequiredError, waitForReplicas, waitForTxid, type InstanceInfo, type NodeOptions } from './instance.ts';
export { expressMiddleware, withLitefleet } from './middleware.ts';

/** Options of openDatabase: where the node and its databases are, and better-sqlite3's own. */
export interface OpenDatabaseOptions extends NodeOptions {
  /** The node's `dir` (default LITEFLEET_DIR, set for apps started by `litefleet run`). */
  dir?: string;
  /** Busy timeout in ms (default 5000: the node takes the write lock for moments). */
  timeout?: number;
}

/**
 * A database of the cluster, opened read-only on a replica and read-write on the primary, and
 * reopened when this node's role changes (a failover or a handoff). Use `.db` each time: the
 * connection behind it is replaced on a role change.
 */
export class ClusterDatabase {
  readonly file: string;
  #db: Database.Database;
  #role: 'primary' | 'replica';
  readonly #timeout: number;
  readonly #abort = new AbortController();

  constructor(file: string, role: 'primary' | 'replica', timeout: number) {
    this.file = file;
    this.#role = role;
    this.#timeout = timeout;
    this.#db = this.#open();
  }

  /** The current connection. */
  get db(): Database.Database {
    return this.#db;
  }

  /** This node's role when the connection was opened. */
  get role(): 'primary' | 'replica' {
    return this.#role;
  }

  /** Follows the node's role until close(). */
  follow(url: string, token: string): void {
    followEvents(
      url,
      token,
      (ev) => {
        if (ev.type === 'role' && ev.role !== this.#role) {
          this.#role = ev.role;
          const old = this.#db;
          this.#db = this.#open();
          old.close();
        }
        return false;
      },
      this.#abort.signal,
    ).catch(() => {
      // closed, or the node went away: the connection stays as it is
    });
  }

  close(): void {
    this.#abort.abort();
    this.#db.close();
  }

  #open(): Database.Database {
    const db = new Database(this.file, { readonly: this.#role !== 'primary', timeout: this.#timeout });
    if (this.#role === 'primary') db.pragma('journal_mode = WAL');
    return db;
  }
}

/** Opens database `name` of this node for the role it has, following role changes. */
export async function openDatabase(name: string, o: OpenDatabaseOptions = {}): Promise<ClusterDatabase> {
  const { url, token } = nodeOptions(o);
  const dir = o.dir ?? process.env.LITEFLEET_DIR;
  if (!dir) throw new Error('openDatabase needs the node\'s dir: set LITEFLEET_DIR or pass { dir }');
  const info = await getInstanceInfo({ url, token });
  const cdb = new ClusterDatabase(path.join(dir, name), info.currentIsPrimary ? 'primary' : 'replica', o.timeout ?? 5_000);
  cdb.follow(url, token);
  return cdb;
}
