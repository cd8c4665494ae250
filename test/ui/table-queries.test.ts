import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { LitefleetError } from '../../src/errors.ts';
import { statusOf } from '../../src/protocol/error-status.ts';
import { runConsoleScript } from '../../src/ui/console-script.ts';
import { COUNT_CAP, countRows, describeTable, fetchRow, listTables, pageRows, type RowQuery } from '../../src/ui/table-queries.ts';
import { fromWire } from '../../src/ui/wire-value.ts';

function memory(): Database.Database {
  const db = new Database(':memory:');
  db.defaultSafeIntegers(true);
  return db;
}

/** Every page of a query, following the cursors; the keys of the rows in order. */
function allPages(db: Database.Database, table: string, q: RowQuery): unknown[] {
  const shape = describeTable(db, table);
  const keys: unknown[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = pageRows(db, shape, { ...q, cursor });
    keys.push(...page.rows.map((r) => (r.key.length === 1 ? fromWire(r.key[0]) : r.key.map(fromWire))));
    if (!page.next) return keys;
    cursor = page.next;
  }
  throw new Error('paging did not end');
}

test('keyset paging visits every row once, in the order a full ORDER BY gives, for any sort, direction and filter', () => {
  const db = memory();
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, v)');
  const ins = db.prepare('INSERT INTO t(grp, name, v) VALUES (?, ?, ?)');
  // Duplicates and NULLs in every sort column, mixed storage classes in the untyped one.
  for (let i = 0; i < 1_000; i++) ins.run(i % 7 === 0 ? null : BigInt(i % 13), i % 11 === 0 ? null : `n${(i * 37) % 101}`, i % 3 === 0 ? BigInt(i % 5) : i % 3 === 1 ? `s${i % 4}` : null);
  const cases: Array<[RowQuery, string]> = [
    [{ limit: 37 }, 'ORDER BY rowid'],
    [{ limit: 37, sort: 'id', desc: true }, 'ORDER BY rowid DESC'],
    [{ limit: 50, sort: 'grp' }, 'ORDER BY grp, rowid'],
    [{ limit: 50, sort: 'grp', desc: true }, 'ORDER BY grp DESC, rowid DESC'],
    [{ limit: 23, sort: 'name' }, 'ORDER BY name, rowid'],
    [{ limit: 23, sort: 'name', desc: true }, 'ORDER BY name DESC, rowid DESC'],
    [{ limit: 29, sort: 'v' }, 'ORDER BY v, rowid'],
    [{ limit: 29, sort: 'v', desc: true }, 'ORDER BY v DESC, rowid DESC'],
    [{ limit: 10, sort: 'name', filters: [{ column: 'grp', op: 'ge', value: '5' }] }, 'WHERE grp >= 5 ORDER BY name, rowid'],
    [{ limit: 10, filters: [{ column: 'name', op: 'contains', value: '7' }, { column: 'v', op: 'notnull' }] }, "WHERE instr(name, '7') > 0 AND v IS NOT NULL ORDER BY rowid"],
    [{ limit: 10, filters: [{ column: 'v', op: 'eq', value: '3' }] }, 'WHERE v = 3 ORDER BY rowid'],
    [{ limit: 10, filters: [{ column: 'grp', op: 'null' }] }, 'WHERE grp IS NULL ORDER BY rowid'],
  ];
  for (const [q, sql] of cases) {
    const expected = db.prepare(`SELECT rowid FROM t ${sql}`).pluck().all();
    assert.ok(expected.length > 0, sql);
    assert.deepEqual(allPages(db, 't', q), expected, JSON.stringify(q));
  }
});

test('WITHOUT ROWID tables page by their primary key; a column named rowid moves the key to oid', () => {
  const db = memory();
  db.exec('CREATE TABLE kv(a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID');
  const ins = db.prepare('INSERT INTO kv VALUES (?, ?, ?)');
  for (let i = 0; i < 200; i++) ins.run(`k${i % 9}`, BigInt(i), `v${i % 4}`);
  const shape = describeTable(db, 'kv');
  assert.deepEqual(shape.key, ['a', 'b']);
  assert.equal(shape.withoutRowid, true);
  const expected = db.prepare('SELECT a, b FROM kv ORDER BY v DESC, a DESC, b DESC').raw(true).all();
  assert.deepEqual(allPages(db, 'kv', { limit: 17, sort: 'v', desc: true }), expected);
  assert.deepEqual(fetchRow(db, shape, ['k3', 3n])?.values, ['k3', 3, 'v3']);

  db.exec('CREATE TABLE odd(rowid TEXT, x)');
  db.exec("INSERT INTO odd VALUES ('a', 1), ('b', 2), ('c', 3)");
  assert.deepEqual(describeTable(db, 'odd').key, ['oid']);
  assert.deepEqual(allPages(db, 'odd', { limit: 2, sort: 'x', desc: true }), [3n, 2n, 1n]);
});

test('names are checked against the table, values are bound, and bad cursors are refused', () => {
  const db = memory();
  db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t(name) VALUES ('a'), ('b')");
  const shape = describeTable(db, 't');
  const status = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof LitefleetError, String(err));
      return statusOf(err);
    }
    return 200;
  };
  assert.equal(status(() => describeTable(db, 'nope')), 404);
  assert.equal(status(() => pageRows(db, shape, { sort: 'name; DROP TABLE t' })), 400);
  assert.equal(status(() => pageRows(db, shape, { filters: [{ column: 'id) OR (1', op: 'eq', value: '1' }] })), 400);
  assert.equal(status(() => pageRows(db, shape, { cursor: 'not a cursor' })), 400);
  assert.equal(status(() => pageRows(db, shape, { cursor: Buffer.from('[{"$text":"a","length":9}]').toString('base64url') })), 400);
  assert.equal(pageRows(db, shape, { filters: [{ column: 'name', op: 'eq', value: "a' OR '1'='1" }] }).rows.length, 0);
  assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 2n);
});

test('row counts stop at the cap and estimate from max(rowid); previews cut long values', () => {
  const db = memory();
  db.exec(`CREATE TABLE big(id INTEGER PRIMARY KEY, body TEXT, data BLOB); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ${COUNT_CAP + 5}) INSERT INTO big(id) SELECT i FROM c`);
  db.exec("CREATE TABLE small(x); INSERT INTO small VALUES (1), (2); CREATE VIEW v AS SELECT x * 2 AS y FROM small");
  db.exec(`UPDATE big SET body = '${'x'.repeat(500)}', data = zeroblob(100) WHERE id = 1`);
  assert.deepEqual(countRows(db, describeTable(db, 'big')), { count: COUNT_CAP, atLeast: true, estimate: COUNT_CAP + 5 });
  assert.deepEqual(
    listTables(db).map((t) => [t.name, t.type, t.rows]),
    [
      ['big', 'table', { count: COUNT_CAP, atLeast: true, estimate: COUNT_CAP + 5 }],
      ['small', 'table', { count: 2, atLeast: false }],
      ['v', 'view', null],
    ],
  );
  const first = pageRows(db, describeTable(db, 'big'), { limit: 1 }).rows[0]!;
  assert.deepEqual(first.values, [1, { $text: 'x'.repeat(200), length: 500 }, { $blob: '00'.repeat(16), size: 100, truncated: true }]);
  // A view has no key: paged by offset.
  const view = describeTable(db, 'v');
  const p1 = pageRows(db, view, { limit: 1 });
  assert.deepEqual(p1.rows.map((r) => r.values), [[2]]);
  assert.deepEqual(pageRows(db, view, { limit: 1, cursor: p1.next! }).rows.map((r) => r.values), [[4]]);
});

test('the console runs scripts of reads here, names writes as writes, and reports SQLite\'s errors', () => {
  const db = memory();
  db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), ('<script>')");
  const out = runConsoleScript(db, 'SELECT x FROM t ORDER BY rowid; SELECT count(*) AS n FROM t');
  assert.equal(out.kind, 'rows');
  if (out.kind !== 'rows') return;
  assert.deepEqual(out.results.map((r) => [r.columns, r.rows]), [
    [['x'], [[1], [2], ['<script>']]],
    [['n'], [[3]]],
  ]);
  assert.deepEqual(runConsoleScript(db, 'SELECT 1; DELETE FROM t'), { kind: 'write' });
  assert.deepEqual(runConsoleScript(db, 'INSERT INTO t VALUES (3)'), { kind: 'write' });
  assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 3n, 'a write is never run here');
  assert.throws(() => runConsoleScript(db, 'SELECT * FROM nope'), { message: 'no such table: nope' });
  assert.throws(() => runConsoleScript(db, 'SELEC 1'), { message: 'near "SELEC": syntax error' });
  const many = runConsoleScript(db, 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT i FROM c');
  assert.ok(many.kind === 'rows' && many.results[0]!.truncated && many.results[0]!.rows.length === 1_000);
});
