/**
 * `litefleet/client`: what an app needs to know and do about the cluster, from its own code.
 *
 * ```ts
 * import { getInstanceInfo, ensurePrimary, openDatabase, waitForTxid } from 'litefleet/client';
 *
 * const { currentIsPrimary, primaryInstance } = await getInstanceInfo();
 * const sqlite = await openDatabase('sqlite.db');       // read-only here unless this node is primary
 * sqlite.db.prepare('SELECT * FROM notes').all();
 * await ensurePrimary();                                 // throws PrimaryRequiredError on a replica
 * await waitForTxid('sqlite.db', 42, { timeout: 5000 }); // read your own writes
 * ```
 *
 * The node is found at `LITEFLEET_URL` (set for apps started by `litefleet run`; default
 * http://127.0.0.1:20202) with the cluster token in `LITEFLEET_TOKEN`; both can be passed instead.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { followEvents, waitForNodeTxid } from './events.ts';

export { expressMiddleware, withLitefleet } from './middleware.ts';

/** Where the node is and its token (defaults from LITEFLEET_URL and LITEFLEET_TOKEN). */
export interface NodeOptions {
  url?: string;
  token?: string;
}

/** Who this instance is and who the primary is. */
export interface InstanceInfo {
  currentInstance: string;
  primaryInstance: string | null;
  currentIsPrimary: boolean;
}

/** Thrown by ensurePrimary on a replica: the request must be replayed on the primary. */
export class PrimaryRequiredError extends Error {
  readonly status = 409;
  readonly primaryInstance: string | null;
  /** What Fly's edge (and litefleet's proxy) turn into a replay of the request on the primary. */
  readonly headers: Record<string, string>;

  constructor(primaryInstance: string | null) {
    super(primaryInstance ? `this instance is a replica; replay on the primary ${primaryInstance}` : 'this instance is a replica and no primary is known');
    this.primaryInstance = primaryInstance;
    this.headers = primaryInstance ? { 'fly-replay': `instance=${primaryInstance}` } : {};
  }
}

export function nodeOptions(o: NodeOptions = {}): { url: string; token: string } {
  const url = (o.url ?? process.env.LITEFLEET_URL ?? 'http://127.0.0.1:20202').replace(/\/$/, '');
  const token = o.token ?? process.env.LITEFLEET_TOKEN;
  if (!token) throw new Error('litefleet/client needs the cluster token: set LITEFLEET_TOKEN or pass { token }');
  return { url, token };
}

/** This instance's name, the primary's, and whether they are the same (from the local node). */
export async function getInstanceInfo(o: NodeOptions = {}): Promise<InstanceInfo> {
  const { url, token } = nodeOptions(o);
  const res = await fetch(`${url}/info`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`the litefleet node at ${url} answered ${res.status}${res.status === 401 ? ' (wrong or missing token)' : ''}`);
  const { node } = (await res.json()) as { node: { role: string; hostname: string; primary: string | null } };
  const currentIsPrimary = node.role === 'primary';
  return { currentInstance: node.hostname, primaryInstance: currentIsPrimary ? node.hostname : node.primary, currentIsPrimary };
}

/** Throws PrimaryRequiredError unless this instance is the primary (call it before writing in a GET handler). */
export async function ensurePrimary(o: NodeOptions = {}): Promise<void> {
  const info = await getInstanceInfo(o);
  if (!info.currentIsPrimary) throw new PrimaryRequiredError(info.primaryInstance);
}

/** Resolves once this node has `txid` of `db` (driven by the node's events, not by polling). */
export async function waitForTxid(db: string, txid: number, o: NodeOptions & { timeout?: number } = {}): Promise<void> {
  const { url, token } = nodeOptions(o);
  await waitForNodeTxid(url, token, db, txid, o.timeout ?? 5_000);
}

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
