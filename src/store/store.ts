import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Pos } from '../ltx/position.ts';
import type { CommitEvent } from '../log/commit-event.ts';
import { DB, type DbOptions } from './db.ts';
import { DescriptorBudget } from './descriptor-limit.ts';

/** Settings of a Store. */
export interface StoreOptions extends DbOptions {
  pollIntervalMs: number;
  retentionMs: number;
  retentionIntervalMs: number;
}

/** A database in `dir` this node cannot capture, and when it tries again. */
export interface FailedDatabase {
  name: string;
  problem: string;
  attempts: number;
  retryAt: number;
}

/** What the node reports about one database. */
export interface DatabaseInfo {
  name: string;
  txid: number;
  checksum: bigint;
  pageSize: number;
  pages: number;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const IGNORED_SUFFIXES = ['-wal', '-shm', '-journal', '.tmp', '.litefleet-new'];
// Files litefleet moved aside for the operator (a replica database SQLite could not open).
const SET_ASIDE = /\.broken-\d+(-wal|-shm)?$/;
const SCAN_INTERVAL_MS = 1000;
const SCAN_SOON_MS = 50;
// A database that cannot be opened for capture is tried again after 1 s, then twice as long each
// time up to this: a node at its descriptor limit must not spend itself retrying every second.
const MAX_RETRY_MS = 60_000;
const HEADER_CHECK_EVERY = 5;
const POLLS_PER_TICK = 250;
const FLUSH_INTERVAL_MS = 1000;
// A database with nothing logged for this long gives back the descriptors it does not need idle.
const IDLE_FILES_MS = 10_000;

/**
 * True when `file` in the live directory is a SQLite database litefleet should follow. It opens and
 * closes the file: never call it on a database this process has open in SQLite, whose locks the
 * close would release.
 */
export function isDatabaseFile(file: string): boolean {
  const name = path.basename(file);
  if (name.startsWith('.') || IGNORED_SUFFIXES.some((s) => name.endsWith(s)) || SET_ASIDE.test(name)) return false;
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return false;
    const head = Buffer.alloc(16);
    return fs.readSync(fd, head, 0, 16, 0) === 16 && head.equals(SQLITE_MAGIC);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * All databases of one node (LiteFS's noun), on either role. On the primary it finds every SQLite
 * database in `dir` (at start and when one is created) and captures each; on a replica it applies
 * what the primary sends to each. Every DB keeps its log the same way on both, so a role change
 * keeps positions, logs and checksum states as they are. Emits 'commit' for every new position,
 * 'opened' for a database it starts to capture and 'drop' for a database deleted on the primary.
 */
export class Store extends EventEmitter {
  readonly #o: StoreOptions;
  readonly #dbs = new Map<string, DB>();
  readonly #failed = new Map<string, FailedDatabase>();
  /** Databases found but not yet opened for this node's role, in the order found. */
  readonly #pending = new Set<string>();
  readonly #descriptors = new DescriptorBudget();
  #opening: Promise<void> | undefined;
  #capturing = false;
  /** The lease term capture runs under. */
  #term = 0;
  #watcher: fs.FSWatcher | undefined;
  #timers: NodeJS.Timeout[] = [];
  #ticks = 0;
  #pollCursor = 0;
  #scanTimer: NodeJS.Timeout | undefined;
  #headerCursor = 0;
  #pruning = false;

  constructor(options: StoreOptions) {
    super();
    this.setMaxListeners(0);
    this.#o = options;
  }

  /** Creates `dir` and the logs' folder (at start, once the node knows it may run). */
  prepare(): void {
    fs.mkdirSync(this.#o.dir, { recursive: true });
    fs.mkdirSync(path.join(this.#o.dataDir, 'dbs'), { recursive: true });
  }

  /** The databases by name. */
  get dbs(): ReadonlyMap<string, DB> {
    return this.#dbs;
  }

  /** The databases in `dir` this node cannot capture (it tries again with backoff), by name. */
  get failed(): ReadonlyMap<string, FailedDatabase> {
    return this.#failed;
  }

  /** How many databases wait to be opened for this node's role (at start, one after another in the background). */
  get starting(): number {
    return this.#pending.size;
  }

  /** True while `name` waits to be opened for this node's role. */
  pending(name: string): boolean {
    return this.#pending.has(name);
  }

  /** Resolves once every database found so far is open for this node's role. */
  async opened(): Promise<void> {
    while (this.#opening) await this.#opening;
  }

  /** True while this store captures (the node is primary). */
  get capturing(): boolean {
    return this.#capturing;
  }

  /** Position and geometry of every database. */
  databases(): DatabaseInfo[] {
    return [...this.#dbs.values()]
      .map((d) => ({ name: d.name, txid: d.pos.txid, checksum: d.pos.checksum, pageSize: d.geometry.pageSize, pages: d.geometry.pageCount }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The node becomes (or starts as) the primary under lease `term`: every database is captured
   * from where it is — a replica's from its position with its write lock — and `dir` is watched
   * for new ones.
   */
  startCapture(term: number): void {
    this.#stopTimers();
    this.#failed.clear();
    this.#pending.clear();
    this.#capturing = true;
    this.#term = term;
    // A replica's databases hand their write lock to capture now, so the app never gets in between;
    // the rest are opened in the background (scan).
    for (const db of [...this.#dbs.values()]) {
      if (db.applier || db.capture) this.#capture(db);
      else this.#forget(db);
    }
    this.scan();
    // One watch on the directory covers every -wal file by name, so a WAL deleted and created
    // again (a new inode) is still seen; a write to a database file itself (a checkpoint, or an app
    // leaving WAL mode) has its header checked. The interval below is the fallback for missed events.
    this.#watcher = fs.watch(this.#o.dir, (_event, filename) => {
      if (!filename) return;
      const wal = filename.endsWith('-wal');
      const cap = this.#dbs.get(wal ? filename.slice(0, -4) : filename)?.capture;
      if (cap) {
        cap.schedule();
        if (!wal) cap.checkHeaderSoon();
      } else if (!wal && !filename.endsWith('-shm') && !filename.endsWith('-journal')) this.#scanSoon();
    });
    this.#timers.push(
      setInterval(() => this.#pollSome(), this.#o.pollIntervalMs),
      setInterval(() => this.scan(), SCAN_INTERVAL_MS),
    );
    this.#startMaintenance();
  }

  /**
   * The node becomes (or starts as) a replica: every database it knows (its logs, the files in
   * `dir`) is opened for apply; a demoting primary's capture hands over its write lock (pause
   * writes first).
   */
  startApply(): void {
    this.#stopTimers();
    this.#capturing = false;
    this.#failed.clear();
    this.#pending.clear();
    // A demoting primary's captures hand over their write lock now (see pauseWrites); the rest are
    // opened in the background.
    for (const db of [...this.#dbs.values()]) {
      if (db.capture || db.applier) this.#openForApply(db.name);
      else this.#forget(db);
    }
    const names = new Set(this.#dbs.keys());
    for (const n of fs.readdirSync(path.join(this.#o.dataDir, 'dbs'))) names.add(n);
    // Only a file the node knows nothing of is opened to read its header: closing a descriptor of a
    // database this process has open in SQLite would drop every lock SQLite holds on it.
    for (const n of fs.readdirSync(this.#o.dir)) if (!names.has(n) && isDatabaseFile(path.join(this.#o.dir, n))) names.add(n);
    for (const name of names) if (!this.#dbs.has(name)) this.#enqueue(name);
    this.#startMaintenance();
  }

  /**
   * Captures `name` now, ahead of any database waiting (one the node itself just put in place);
   * undefined when this node does not capture or the database could not be captured.
   */
  captureNow(name: string): DB | undefined {
    if (!this.#capturing) return undefined;
    this.#pending.delete(name);
    if (!this.#dbs.get(name)?.capture) this.#captureName(name);
    return this.#dbs.get(name);
  }

  /** Closes a database that is neither captured nor applied (one that failed to open or to be captured) and lets it be found again. */
  #forget(db: DB): void {
    this.#dbs.delete(db.name);
    try {
      db.close();
    } catch (err) {
      this.#o.logger.warn({ db: db.name, err }, 'closing a database that was not open for either role failed');
    }
  }

  #enqueue(name: string): void {
    this.#pending.add(name);
    this.#opening ??= this.#openPending().finally(() => (this.#opening = undefined));
  }

  /** Opens the waiting databases one at a time, the API and the streams answering in between. */
  async #openPending(): Promise<void> {
    for (let name = first(this.#pending); name !== undefined; name = first(this.#pending)) {
      this.#pending.delete(name);
      if (!this.#capturing) this.#openForApply(name);
      // Found a while ago: one deleted since is not created again, empty, by opening it.
      else if (this.#dbs.has(name) || isDatabaseFile(path.join(this.#o.dir, name))) this.#captureName(name);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  #openForApply(name: string): void {
    try {
      this.applying(name);
    } catch (err) {
      this.#o.logger.error({ db: name, err: (err as Error).message }, 'cannot open replica database');
    }
  }

  /** The database `name` on a replica, opened for apply on first use (a database new to this node). */
  applying(name: string): DB {
    let db = this.#dbs.get(name);
    if (!db) {
      db = this.#add(name);
    }
    if (db.applier) return db;
    try {
      db.startApply();
    } catch (err) {
      // Not even SQLite can read it: keep it for the operator and start over from the primary.
      db.close();
      const aside = `${db.path}.broken-${Date.now()}`;
      for (const suffix of ['', '-wal', '-shm']) if (fs.existsSync(db.path + suffix)) fs.renameSync(db.path + suffix, aside + suffix);
      this.#o.logger.error({ db: name, err: (err as Error).message, movedTo: aside }, `replica database ${name} cannot be opened; moved it aside and resetting from primary`);
      db.startApply();
    }
    return db;
  }

  /** Deletes a replica's database and its state (the primary dropped it). */
  drop(name: string): void {
    const db = this.#dbs.get(name);
    if (!db) return;
    db.drop();
    this.#dbs.delete(name);
  }

  /** Stops the app's writes to every database (see DatabaseCapture.pauseWrites); returns the final positions. */
  pauseWrites(timeoutMs: number): Map<string, Pos> {
    const paused: DB[] = [];
    try {
      for (const db of this.#dbs.values()) {
        if (!db.capture) continue;
        db.capture.pauseWrites(timeoutMs);
        paused.push(db);
      }
    } catch (err) {
      for (const db of paused) db.capture?.resumeWrites();
      throw err;
    }
    return new Map(paused.map((d) => [d.name, d.pos]));
  }

  /** Lets the app write again. */
  resumeWrites(): void {
    for (const db of this.#dbs.values()) db.capture?.resumeWrites();
  }

  /** Stops watching and closes every database (capturing or applying what is left, syncing the logs). */
  close(): void {
    this.#stopTimers();
    this.#pending.clear();
    for (const db of this.#dbs.values()) {
      try {
        db.close();
      } catch (err) {
        this.#o.logger.error({ db: db.name, err }, 'closing database failed');
      }
    }
    this.#dbs.clear();
  }

  /**
   * One scan shortly, however many file events ask for it: writes to databases this node does not
   * capture (those it has no room for) come as a stream of events, and each scan lists `dir`.
   */
  #scanSoon(): void {
    this.#scanTimer ??= setTimeout(() => {
      this.#scanTimer = undefined;
      this.scan();
    }, SCAN_SOON_MS);
  }

  /** Looks for new and deleted databases (primary: every second, on file events, and when the node put one in place). */
  scan(): void {
    if (!this.#capturing) return;
    let names: string[];
    try {
      names = fs.readdirSync(this.#o.dir);
    } catch (err) {
      this.#o.logger.error({ dir: this.#o.dir, err }, 'cannot list the database directory');
      return;
    }
    const now = Date.now();
    for (const name of names) {
      if (this.#dbs.get(name)?.capture || this.#pending.has(name) || (this.#failed.get(name)?.retryAt ?? 0) > now) continue;
      if (this.#dbs.has(name)) {
        this.#enqueue(name);
        continue;
      }
      if (!isDatabaseFile(path.join(this.#o.dir, name))) continue;
      // At the descriptor limit, a new database is reported without opening anything for it.
      const full = this.#descriptors.check(this.#dbs.size + this.#pending.size);
      if (full) this.#failCapture(name, new Error(full));
      else this.#enqueue(name);
    }
    // A failed or waiting database whose file went away is no longer this node's concern.
    const present = new Set(names);
    for (const name of this.#failed.keys()) if (!present.has(name)) this.#failed.delete(name);
    for (const name of this.#pending) if (!present.has(name)) this.#pending.delete(name);
    for (const [name, db] of this.#dbs) {
      if (!present.has(name)) {
        this.#o.logger.warn({ db: name }, 'database file was deleted; no longer capturing it');
        db.close();
        this.#dbs.delete(name);
        this.emit('drop', name);
      }
    }
  }

  #add(name: string): DB {
    const db = new DB(name, this.#o);
    db.on('commit', (ev: CommitEvent) => this.emit('commit', ev));
    this.#dbs.set(name, db);
    return db;
  }

  #captureName(name: string): void {
    let db: DB;
    try {
      db = this.#dbs.get(name) ?? this.#add(name);
    } catch (err) {
      this.#failCapture(name, err);
      return;
    }
    this.#capture(db);
  }

  #capture(db: DB): void {
    try {
      const full = db.capture ? undefined : this.#descriptors.check(this.#dbs.size - 1);
      if (full) throw new Error(full);
      db.startCapture(this.#term);
    } catch (err) {
      this.#forget(db);
      this.#failCapture(db.name, err);
      return;
    }
    if (this.#failed.delete(db.name)) this.#o.logger.info({ db: db.name }, 'database captured after earlier failures');
    this.#o.logger.info({ db: db.name, txid: db.pos.txid }, 'capturing database');
    // Streams learn of it even when capture logged nothing new (a database the log already had).
    this.emit('opened', db.name);
  }

  /** Records that `name` cannot be captured now, to be tried again with backoff. */
  #failCapture(name: string, err: unknown): void {
    const problem = `cannot capture: ${(err as Error).message}`;
    const before = this.#failed.get(name);
    const attempts = (before?.attempts ?? 0) + 1;
    const delay = Math.min(1000 * 2 ** (attempts - 1), MAX_RETRY_MS);
    // Logged once per distinct failure, with when it is tried again.
    if (before?.problem !== problem) this.#o.logger.error({ db: name, err, retryInMs: delay }, 'cannot capture database; trying again with backoff');
    this.#failed.set(name, { name, problem, attempts, retryAt: Date.now() + delay });
  }

  /**
   * The fallback poll's tick: the next POLLS_PER_TICK databases in turn (every one, up to that
   * many), so its cost stays flat however many databases there are; a database among thousands is
   * then looked at every few seconds, which only matters if its file event was missed.
   */
  #pollSome(): void {
    const dbs = [...this.#dbs.values()];
    this.#pollCursor = visitSome(dbs, this.#pollCursor, (db) => db.capture?.pollIfChanged());
    // The header check, every few ticks, goes round the databases on its own count.
    if (++this.#ticks % HEADER_CHECK_EVERY === 0) this.#headerCursor = visitSome(dbs, this.#headerCursor, (db) => db.capture?.checkHeaderSoon());
  }

  /** Flushes every log about once a second (closing an idle one's files) and prunes them, on both roles. */
  #startMaintenance(): void {
    this.#timers.push(
      setInterval(() => {
        for (const db of this.#dbs.values()) {
          void db.log.flush();
          db.releaseIdleFiles(IDLE_FILES_MS);
        }
      }, FLUSH_INTERVAL_MS),
      setInterval(() => void this.#prune(), this.#o.retentionIntervalMs),
    );
  }

  async #prune(): Promise<void> {
    if (this.#pruning) return;
    this.#pruning = true;
    try {
      for (const db of [...this.#dbs.values()]) {
        const n = await db.log.prune(Date.now() - this.#o.retentionMs).catch((err: unknown) => {
          this.#o.logger.warn({ db: db.name, err }, 'pruning the log failed');
          return 0;
        });
        if (n > 0) this.#o.logger.debug({ db: db.name, segments: n }, 'removed log segments past retention');
      }
    } finally {
      this.#pruning = false;
    }
  }

  #stopTimers(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#scanTimer);
    this.#scanTimer = undefined;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }
}

/** Visits the next POLLS_PER_TICK of `dbs` (all of them, up to that many) from `cursor`; returns where the next visit starts. */
function visitSome(dbs: readonly DB[], cursor: number, visit: (db: DB) => void): number {
  const n = Math.min(dbs.length, POLLS_PER_TICK);
  for (let i = 0; i < n; i++) visit(dbs[(cursor + i) % dbs.length]!);
  return dbs.length === 0 ? 0 : (cursor + n) % dbs.length;
}

function first<T>(set: ReadonlySet<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}
