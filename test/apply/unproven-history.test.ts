import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { decodeLtx } from '../../src/ltx/decoder.ts';
import { openSnapshotRead } from '../../src/sqlite/snapshot-read.ts';
import { snapshotLtx } from '../../src/sqlite/snapshot-ltx.ts';
import { DB, type DbOptions } from '../../src/store/db.ts';
import { databaseChecksum } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const NAME = 'app.db';

/** The rows of table t in `file`. */
function rows(file: string): number[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT x FROM t ORDER BY x').pluck().all() as number[];
  } finally {
    db.close();
  }
}

/** A snapshot of `file` as the primary's TXID `txid`, as a stream would bring it. */
function snapshotOf(file: string, txid: number) {
  const { checksum, pageSize, pageCount } = databaseChecksum(file);
  const snap = openSnapshotRead(file, (begin) => {
    begin();
    return { pos: { txid, checksum }, pageSize, pageCount };
  });
  try {
    return decodeLtx(Buffer.concat([...snapshotLtx(snap, 2n)]));
  } finally {
    snap.close();
  }
}

// Found by a chaos run: a node that led alone (term 26) came back as a replica of a primary that
// had never heard of that term. The primary's terms, merged as they arrived, rewrote the node's
// own record; the node died before the snapshot came, and once restarted its record vouched for
// its database, so the snapshot replaced 350 acknowledged writes without a copy.
test("a replica's history the primary's terms do not show is copied aside before a snapshot replaces it, even after a restart in between", async () => {
  const root = makeTempDir('litefleet-unproven-');
  const opts: DbOptions = { dir: path.join(root, 'live'), dataDir: path.join(root, 'data'), nodeId: 1n, logger: pino({ level: 'silent' }), resetFrames: 1000, compress: false };
  fs.mkdirSync(opts.dir);
  const file = path.join(opts.dir, NAME);

  // This node leads under term 26 and its app writes rows no other node ever gets.
  const app = new Database(file);
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE t(x INTEGER)');
  let db = new DB(NAME, opts);
  db.startCapture(26);
  for (let x = 1; x <= 3; x++) app.prepare('INSERT INTO t VALUES (?)').run(x);
  app.close();
  db.capture!.pauseWrites(5_000);
  const ours = db.pos;
  assert.equal(db.log.termAt(ours.txid), 26);

  // It steps down, and the new primary (term 30, which never had those rows) sends its terms.
  db.startApply();
  const theirs: Array<[number, number]> = [[1, 30]];
  db.applier!.takeTerms(theirs);
  assert.equal(db.log.termAt(ours.txid), 26, "the node's own record of its history is kept until it is proven or replaced");

  // The node dies before the snapshot comes, and starts again.
  db.close();
  db = new DB(NAME, opts);
  db.startApply();
  assert.deepEqual(db.pos, ours);
  db.applier!.takeTerms(theirs);

  // The primary's database (other rows, further along) replaces it; our rows are kept aside.
  const other = path.join(root, 'other.db');
  const primary = new Database(other);
  primary.pragma('journal_mode = WAL');
  primary.exec('CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (100)');
  primary.pragma('wal_checkpoint(TRUNCATE)');
  primary.close();
  db.applier!.applySnapshot(snapshotOf(other, ours.txid + 10));
  assert.deepEqual(rows(file), [100]);
  const discarded = path.join(opts.dataDir, 'dbs', NAME, 'discarded');
  const copies = fs.readdirSync(discarded).filter((f) => f.endsWith('.db'));
  assert.equal(copies.length, 1, `a copy of the replaced content in ${discarded}`);
  assert.deepEqual(rows(path.join(discarded, copies[0]!)), [1, 2, 3]);
  assert.equal(db.log.termAt(ours.txid + 10), 30, "the primary's terms are taken with its snapshot");
  db.close();
});
