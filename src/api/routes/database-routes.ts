import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { snapshotLtx } from '../../sqlite/snapshot-ltx.ts';
import { ConflictError, InvalidRequestError, NotFoundError, NotPrimaryError, UnsupportedDatabaseStateError } from '../../errors.ts';
import { headerFields } from '../../ltx/header.ts';
import { formatPos, parsePos, type Pos } from '../../ltx/position.ts';
import { TERMS_HEADER } from '../../protocol/api-types.ts';
import { drained } from '../../protocol/drained.ts';
import { parseSyncWrite } from '../../protocol/sync-write.ts';
import { execScript } from '../../sql/exec-sql.ts';
import { filePages, importIntoDatabase, importNewDatabase } from '../../sql/import-export.ts';
import type { DB } from '../../store/db.ts';
import { validateDatabaseName } from '../../store/names.ts';
import { pathSegment, readJsonBody, type ApiResponse, type ApiRoute } from '../api-server.ts';
import { FORWARD_TIMEOUT_MS, type RouteHost } from './route-host.ts';

// A seed script sent to POST /db/<name>/exec may be large.
const EXEC_BODY_LIMIT = 256 * 1024 * 1024;
// GET /db/<name>/ltx sends at most this much of the log per read.
const LTX_READ_BYTES = 4 * 1024 * 1024;
// A snapshot goes out in writes of about this size.
const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

/** Routes on one database: exec and import (on the primary), export, and the log and snapshot other nodes fetch. */
export function databaseRoutes(host: RouteHost): ApiRoute[] {
  const importing = new Set<string>();
  return [
    { method: 'POST', path: '/db/*/exec', auth: true, handle: (req, url) => exec(host, req, url) },
    { method: 'POST', path: '/db/*/import', auth: true, handle: (req, url) => importDatabase(host, importing, validateDatabaseName(pathSegment(url, 2)), req) },
    { method: 'GET', path: '/db/*/export', auth: true, handle: (_req, url, res) => exportDatabase(dbOf(host, pathSegment(url, 2)), res) },
    { method: 'GET', path: '/db/*/ltx', auth: true, handle: (_req, url, res) => ltxAfter(dbOf(host, pathSegment(url, 2)), url.searchParams.get('after'), res) },
    { method: 'GET', path: '/db/*/snapshot', auth: true, handle: (_req, url, res) => snapshot(host, dbOf(host, pathSegment(url, 2)), res) },
  ];
}

/** The database a request names (400 for a malformed name, 404 for one this node does not have). */
function dbOf(host: RouteHost, rawName: string): DB {
  const name = validateDatabaseName(rawName);
  const db = host.store.dbs.get(name);
  if (!db) throw new NotFoundError(`unknown database ${name}; the databases are: ${[...host.store.dbs.keys()].join(', ') || 'none'}`);
  return db;
}

/**
 * POST /db/<name>/exec: a script run on the primary as one transaction (a replica sends it on).
 * With `?replicas=N`, answered once N replicas have applied it, with their ids.
 */
async function exec(host: RouteHost, req: http.IncomingMessage, url: URL): Promise<ApiResponse> {
  const name = validateDatabaseName(pathSegment(url, 2));
  const sync = parseSyncWrite(url.searchParams);
  const body = await readJsonBody(req, EXEC_BODY_LIMIT);
  if (typeof body.sql !== 'string') throw new InvalidRequestError('expected {"sql": "<statements>"}');
  if (host.role !== 'primary') return host.callPrimary(`${url.pathname}${url.search}`, body, sync && FORWARD_TIMEOUT_MS + sync.timeoutMs);
  const cap = dbOf(host, name).capture;
  if (!cap) throw new NotPrimaryError('this node is no longer the primary');
  const result = await execScript(path.join(host.config.dir, name), body.sql, cap);
  if (!sync) return { status: 200, body: result };
  return { status: 200, body: { ...result, replicas: await host.waitForReplicas(name, result.txid, sync.replicas, sync.timeoutMs) } };
}

/** GET /db/<name>/export: a consistent copy of this node's database, as a file's bytes. */
async function exportDatabase(db: DB, res: http.ServerResponse): Promise<void> {
  if (db.pos.txid === 0) throw new NotFoundError(`database ${db.name} has no content on this node yet`);
  const snap = await db.openSnapshotRead();
  try {
    res.writeHead(200, { 'content-type': 'application/vnd.sqlite3', 'content-length': snap.pageSize * snap.pageCount, 'litefleet-txid': String(snap.pos.txid) });
    for (const page of filePages(snap.pages(), snap.pageSize, snap.pageCount)) {
      if (!res.write(page)) await drained(res);
      if (res.destroyed) break;
    }
    res.end();
  } finally {
    snap.close();
  }
}

/**
 * GET /db/<name>/ltx?after=<pos>: this node's logged transactions after `pos`, LTX files back to
 * back (a candidate fetches what it lacks from the others before it takes the lease); 409 when
 * the log cannot continue `pos`.
 */
async function ltxAfter(db: DB, after: string | null, res: http.ServerResponse): Promise<ApiResponse | void> {
  let pos: Pos;
  try {
    pos = parsePos(after ?? '');
  } catch {
    throw new InvalidRequestError('expected ?after=<txid>/<checksum>');
  }
  const at = db.log.checksumAt(pos.txid) ?? (db.pos.txid === pos.txid ? db.pos.checksum : undefined);
  // 'not-behind': the asker is where this node is; 'gone': the log no longer reaches back there
  // (ask for a snapshot); 'fork': our histories differ there, or the asker is further along
  // (only the asker can tell whether its history passes through this node's position).
  if (pos.txid >= db.pos.txid || at === undefined || at !== pos.checksum) {
    const reason = pos.txid === db.pos.txid && pos.checksum === db.pos.checksum ? 'not-behind' : at === undefined && pos.txid < db.pos.txid ? 'gone' : 'fork';
    // With a fork, where this history has been, so the asking node can tell where it forked off.
    const points = reason === 'fork' ? [db.pos, ...db.log.historyPoints()].map(formatPos) : undefined;
    return { status: 409, body: { error: `the log of ${db.name} cannot continue ${formatPos(pos)} (${reason})`, reason, points } };
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', [TERMS_HEADER]: JSON.stringify(db.log.recentTerms) });
  // A read at a time, each sent before the next is made: a range of the log can be far larger
  // than the node's memory. Each read continues the last one's checksum, so a log changed while
  // this one waits for the socket (set aside, reset) ends the answer where it stops continuing.
  while (pos.txid < db.pos.txid && !res.destroyed) {
    let read;
    try {
      read = db.log.read(pos.txid + 1, LTX_READ_BYTES);
    } catch (err) {
      // Pruned or damaged since the answer began: the asker sees it cut short and asks again.
      res.destroy(err as Error);
      return;
    }
    if (!read || headerFields(read.files[0]!).pre !== pos.checksum) break;
    let ok = true;
    for (const f of read.files) ok = res.write(f);
    pos = read.pos;
    if (!ok) await drained(res);
  }
  res.end();
}

/** GET /db/<name>/snapshot: this node's database as a snapshot LTX at its position (another node fetching what it lacks). */
async function snapshot(host: RouteHost, db: DB, res: http.ServerResponse): Promise<void> {
  const snap = await db.openSnapshotRead();
  try {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'litefleet-position': formatPos(snap.pos), [TERMS_HEADER]: JSON.stringify(db.log.recentTerms) });
    let pieces: Uint8Array[] = [];
    let size = 0;
    for (const piece of snapshotLtx(snap, host.nodeId)) {
      pieces.push(piece);
      size += piece.length;
      if (size < SNAPSHOT_CHUNK_BYTES) continue;
      const ok = res.write(Buffer.concat(pieces));
      pieces = [];
      size = 0;
      if (!ok) await drained(res);
      if (res.destroyed) return;
    }
    res.end(Buffer.concat(pieces));
  } finally {
    snap.close();
  }
}

/**
 * POST /db/<name>/import (on the primary): replaces or creates the database from the uploaded
 * file, as one transaction. One import per database at a time; each spools to its own file.
 */
async function importDatabase(host: RouteHost, importing: Set<string>, name: string, req: http.IncomingMessage): Promise<ApiResponse> {
  if (host.role !== 'primary') {
    const p = await host.primaryInfo();
    throw new NotPrimaryError(`imports go to the primary${p ? `: ${p.hostname} at ${p.advertiseUrl}` : ''}`);
  }
  if (importing.has(name)) throw new ConflictError(`an import of ${name} is already running; try again once it is done`);
  importing.add(name);
  // In the live folder (one filesystem, so it can be renamed into place); hidden, so capture ignores it.
  const tmp = path.join(host.config.dir, `.${name}.litefleet-import-${crypto.randomUUID()}`);
  try {
    await pipeline(req, fs.createWriteStream(tmp));
    if (fs.statSync(tmp).size === 0) throw new InvalidRequestError('the upload is empty: send the database file as the request body; nothing was changed');
    const cap = host.store.dbs.get(name)?.capture;
    if (cap) return { status: 200, body: { txid: importIntoDatabase(path.join(host.config.dir, name), tmp, cap).txid, created: false } };
    importNewDatabase(host.config.dir, name, tmp);
    const created = host.store.captureNow(name)?.capture;
    if (!created) throw new UnsupportedDatabaseStateError(`${name} was written but capture did not take it up; see the node's log`);
    return { status: 200, body: { txid: created.pos.txid, created: true } };
  } finally {
    importing.delete(name);
    // SQLite may have left a journal beside the spooled file while checking it.
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) fs.rmSync(f, { force: true });
  }
}
