import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isComplete, isReadOnly, splitStatements, transactionControl } from '../../src/sql/statements.ts';
import { formatReal } from '../../src/sql/dump.ts';

test('scripts split into statements as SQLite reads them', () => {
  const sql = `-- a seed; with a comment
INSERT INTO t VALUES('a;b', "c;d", [e;f], \`g;h\`); /* ; */
CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET v = CASE WHEN 1 THEN 'x;' END; DELETE FROM u; END;
INSERT INTO t VALUES('it''s')`;
  assert.deepEqual(splitStatements(sql), [
    "-- a seed; with a comment\nINSERT INTO t VALUES('a;b', \"c;d\", [e;f], `g;h`)",
    "/* ; */\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET v = CASE WHEN 1 THEN 'x;' END; DELETE FROM u; END",
    "INSERT INTO t VALUES('it''s')",
  ]);
  assert.equal(isComplete('CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;'), false);
  assert.equal(isComplete('CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;'), true);
  assert.equal(isComplete("SELECT ';"), false);
  assert.equal(transactionControl('BEGIN TRANSACTION'), 'begin');
  assert.equal(transactionControl('COMMIT'), 'commit');
  assert.equal(transactionControl('ROLLBACK TO sp'), undefined);
  assert.equal(isReadOnly('WITH x AS (SELECT 1) SELECT * FROM x'), true);
  assert.equal(isReadOnly('WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x'), false);
  assert.equal(isReadOnly('PRAGMA table_info(t)'), true);
  assert.equal(isReadOnly('PRAGMA user_version = 3'), false);
});

test('reals are written so they read back exactly', () => {
  for (const x of [0.1, -2, 1e-5, 1e21, 123456789.123, 5e-324]) assert.equal(Number(formatReal(x)), x);
  assert.equal(formatReal(-2), '-2.0');
  assert.equal(formatReal(1e21), '1.0e+21');
});
