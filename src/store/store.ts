import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DatabaseCapture, type CommitEvent, type LockedDatabase } from '../capture/database-capture.ts';
import type { Pos } from '../ltx/position.ts';
import { EventEmitter } from 'node:events';

/** Settings of a Store. */
export interface StoreOptions {
  /** Where the live databases are (the app opens `<dir>/<name>`). */
  dir: string;
  /** litefleet's own state. */
  dataDir: string;
  nodeId: bigint;
  logger: Logger;
  resetFrames: number;
  pollIntervalMs: number;
  retentionMs: number;
  retentionIntervalMs: number;
  compress: boolean;
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
const HEADER_CHECK_EVERY = 20;

/** True when `file` in the live directory is a SQLite database litefleet should follow. */
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
 * All databases of one node. On the primary it finds every SQLite database in `dir` (at start and
 * when one is created) and keeps a DatabaseCapture running for each; emits 'commit' for each.
 */
export class Store extends EventEmitter {
  readonly #o: StoreOptions;
  readonly #captures = new Map<string, DatabaseCapture>();
  readonly #failed = new Map<string, string>();
  #watcher: fs.FSWatcher | undefined;
  #timers: NodeJS.Timeout[] = [];
  #ticks = 0;

  constructor(options: StoreOptions) {
    super();
    this.#o = options;
    fs.mkdirSync(options.dir, { recursive: true });
    fs.mkdirSync(path.join(options.dataDir, 'dbs'), { recursive: true });
  }

  /** The captures by database name. */
  get captures(): ReadonlyMap<string, DatabaseCapture> {
    return this.#captures;
  }

  /** Starts capturing every database in `dir` and watching for new ones. */
  startCapture(): void {
    this.scan();
    // One watch on the directory covers every -wal file by name, so a WAL deleted and created
    // again (a new inode) is still seen; the interval below is the fallback for missed events.
    this.#watcher = fs.watch(this.#o.dir, (_event, filename) => {
      if (!filename) return;
      const name = filename.endsWith('-wal') ? filename.slice(0, -4) : filename;
      const cap = this.#captures.get(name);
      if (cap) cap.schedule();
      else if (!filename.endsWith('-wal') && !filename.endsWith('-shm') && !filename.endsWith('-journal')) this.scan();
    });
    this.#timers.push(
      setInterval(() => {
        const checkHeaders = ++this.#ticks % HEADER_CHECK_EVERY === 0;
        for (const cap of this.#captures.values()) {
          cap.schedule();
          if (checkHeaders) cap.checkHeader();
        }
      }, this.#o.pollIntervalMs),
      setInterval(() => this.scan(), SCAN_INTERVAL_MS),
      setInterval(() => this.#prune(), this.#o.retentionIntervalMs),
    );
  }

  /** Position and geometry of every database. */
  databases(): DatabaseInfo[] {
    return [...this.#captures.values()]
      .map((c) => ({ name: c.name, txid: c.pos.txid, checksum: c.pos.checksum, pageSize: c.geometry.pageSize, pages: c.geometry.pageCount }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Stops the app's writes to every database (see DatabaseCapture.pauseWrites); returns the final positions. */
  pauseWrites(timeoutMs: number): Map<string, Pos> {
    const paused: DatabaseCapture[] = [];
    try {
      for (const cap of this.#captures.values()) {
        cap.pauseWrites(timeoutMs);
        paused.push(cap);
      }
    } catch (err) {
      for (const cap of paused) cap.resumeWrites();
      throw err;
    }
    return new Map([...this.#captures.values()].map((c) => [c.name, c.pos]));
  }

  /** Lets the app write again. */
  resumeWrites(): void {
    for (const cap of this.#captures.values()) cap.resumeWrites();
  }

  /** Ends capture with writes paused, handing each database's write lock over (see DatabaseCapture.detach). */
  detach(): Map<string, LockedDatabase> {
    this.#stopWatching();
    const locked = new Map<string, LockedDatabase>();
    for (const cap of this.#captures.values()) locked.set(cap.name, cap.detach());
    this.#captures.clear();
    return locked;
  }

  #stopWatching(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  /** Stops watching, captures what is left, and closes every database. */
  close(): void {
    this.#stopWatching();
    for (const cap of this.#captures.values()) {
      try {
        cap.close();
      } catch (err) {
        this.#o.logger.error({ db: cap.name, err }, 'closing capture failed');
      }
    }
    this.#captures.clear();
  }

  /** Looks for new and deleted databases (every second, on file events, and when the node put one in place). */
  scan(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.#o.dir);
    } catch (err) {
      this.#o.logger.error({ dir: this.#o.dir, err }, 'cannot list the database directory');
      return;
    }
    for (const name of names) {
      if (this.#captures.has(name)) continue;
      const file = path.join(this.#o.dir, name);
      if (!isDatabaseFile(file)) continue;
      this.#open(name, file);
    }
    for (const [name, cap] of this.#captures) {
      if (!fs.existsSync(path.join(this.#o.dir, name))) {
        this.#o.logger.warn({ db: name }, 'database file was deleted; no longer capturing it');
        cap.close();
        this.#captures.delete(name);
        this.emit('drop', name);
      }
    }
  }

  #open(name: string, file: string): void {
    const cap = new DatabaseCapture({
      name,
      dbPath: file,
      stateDir: path.join(this.#o.dataDir, 'dbs', name),
      nodeId: this.#o.nodeId,
      logger: this.#o.logger,
      resetFrames: this.#o.resetFrames,
      compress: this.#o.compress,
    });
    // Before start: its first snapshot is news to the replicas too.
    cap.on('commit', (ev: CommitEvent) => this.emit('commit', ev));
    try {
      cap.start();
    } catch (err) {
      const message = (err as Error).message;
      // Log once per distinct failure; the scan retries every second.
      if (this.#failed.get(name) !== message) this.#o.logger.error({ db: name, err }, 'cannot capture database');
      this.#failed.set(name, message);
      cap.close();
      return;
    }
    this.#failed.delete(name);
    this.#captures.set(name, cap);
    this.#o.logger.info({ db: name, txid: cap.pos.txid }, 'capturing database');
  }

  #prune(): void {
    for (const cap of this.#captures.values()) {
      const n = cap.prune(this.#o.retentionMs);
      if (n > 0) this.#o.logger.debug({ db: cap.name, removed: n }, 'removed LTX files past retention');
    }
  }
}
