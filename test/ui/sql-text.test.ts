import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { deleteRowSql, insertRowSql, quoteIdent, sqlLiteral, updateRowSql, type SqlValue } from '../../src/ui/sql-text.ts';
import { FULL, fromWire, toWire } from '../../src/ui/wire-value.ts';

function memory(): Database.Database {
  const db = new Database(':memory:');
  db.defaultSafeIntegers(true);
  return db;
}

test('every literal reads back as the same value of the same storage class', () => {
  const db = memory();
  const cases: Array<[SqlValue, string]> = [
    [null, 'null'],
    [0n, 'integer'],
    [-9223372036854775808n, 'integer'],
    [9223372036854775807n, 'integer'],
    [1.0, 'real'],
    [-0.5, 'real'],
    [0.1, 'real'],
    [1e300, 'real'],
    [5e-324, 'real'],
    [123456789012345680000, 'real'],
    [Infinity, 'real'],
    [-Infinity, 'real'],
    ['', 'text'],
    ["it's a 'quote' \"double\" -- not a comment; DROP TABLE x", 'text'],
    ['nul\0inside', 'text'],
    ['ünïcødé 🚀', 'text'],
    [Buffer.alloc(0), 'blob'],
    [Buffer.from([0, 1, 0xfe, 0xff]), 'blob'],
  ];
  for (const [v, type] of cases) {
    const lit = sqlLiteral(v);
    const [got, gotType] = db.prepare(`SELECT ${lit}, typeof(${lit})`).raw(true).get() as [unknown, string];
    assert.equal(gotType, type, `${lit} is ${type}`);
    assert.deepEqual(got, v, `${lit} reads back`);
  }
  assert.equal(sqlLiteral(NaN), 'NULL');
});

test('wire values carry every storage class whole, and previews are refused as values', () => {
  const values: unknown[] = [null, 42n, -(2n ** 63n), 2n ** 53n, 1.5, 2.0, -Infinity, 'text', Buffer.from('blob')];
  for (const v of values) {
    const back = fromWire(JSON.parse(JSON.stringify(toWire(v, FULL))));
    assert.deepEqual(back, v);
  }
  assert.deepEqual(toWire(2.0, FULL), { $real: '2.0' });
  assert.deepEqual(toWire(2n ** 53n, FULL), { $int: '9007199254740992' });
  assert.deepEqual(toWire('x'.repeat(10), { textChars: 4, blobBytes: 2 }), { $text: 'xxxx', length: 10 });
  assert.throws(() => fromWire({ $text: 'xxxx', length: 10 }), /not a whole value/);
  assert.throws(() => fromWire({ $blob: 'abcd', size: 9, truncated: true }), /not a whole value/);
  assert.throws(() => fromWire({ $int: '1; DROP TABLE t' }), /not a whole value/);
});

test('row edits quote any table and column name and change exactly the row named', () => {
  const db = memory();
  const t = 'we"ird table; --';
  db.exec(`CREATE TABLE ${quoteIdent(t)} (${quoteIdent('a"b')} TEXT, ${quoteIdent('select')} BLOB, n INTEGER)`);
  db.exec(insertRowSql(t, { 'a"b': "x'); DROP TABLE y; --", select: Buffer.from([1, 2]), n: 7n }));
  db.exec(insertRowSql(t, { n: 8n }));
  db.exec(insertRowSql(t, {}));
  assert.equal(db.prepare(`SELECT count(*) FROM ${quoteIdent(t)}`).pluck().get(), 3n);
  db.exec(updateRowSql(t, { columns: ['rowid'], values: [1n] }, { 'a"b': null, n: 9.5 }));
  assert.deepEqual(db.prepare(`SELECT ${quoteIdent('a"b')}, ${quoteIdent('select')}, n FROM ${quoteIdent(t)} WHERE rowid = 1`).raw(true).get(), [null, Buffer.from([1, 2]), 9.5]);
  db.exec(deleteRowSql(t, { columns: ['rowid'], values: [2n] }));
  assert.deepEqual(db.prepare(`SELECT rowid FROM ${quoteIdent(t)} ORDER BY rowid`).pluck().all(), [1n, 3n]);

  db.exec('CREATE TABLE pairs(a TEXT, b INTEGER, v, PRIMARY KEY (a, b)) WITHOUT ROWID');
  db.exec(insertRowSql('pairs', { a: 'k', b: 1n, v: 'one' }));
  db.exec(insertRowSql('pairs', { a: 'k', b: 2n, v: 'two' }));
  db.exec(updateRowSql('pairs', { columns: ['a', 'b'], values: ['k', 2n] }, { v: 'TWO' }));
  assert.deepEqual(db.prepare('SELECT v FROM pairs ORDER BY b').pluck().all(), ['one', 'TWO']);
  assert.throws(() => updateRowSql('pairs', { columns: ['a', 'b'], values: ['k'] }, { v: 1n }), /one value per key column/);
});
