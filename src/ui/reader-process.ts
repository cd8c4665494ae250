// The child process that runs the studio's reads (see ReadRunner): one request at a time, each on
// a fresh read-only connection that is closed before the answer goes back.
import Database from 'better-sqlite3';
import { runConsoleScript } from './console-script.ts';
import { describeTable, fetchRow, listTables, pageRows } from './table-queries.ts';
import type { ReadReply, ReadRequest } from './read-runner.ts';
import { fromWire } from './wire-value.ts';
import { LitefleetError } from '../errors.ts';

function answer(req: ReadRequest): unknown {
  const db = new Database(req.file, { readonly: true, fileMustExist: true, timeout: 5_000 });
  try {
    db.defaultSafeIntegers(true);
    switch (req.op) {
      case 'tables':
        return listTables(db);
      case 'table':
        return describeTable(db, req.table);
      case 'rows':
        return pageRows(db, describeTable(db, req.table), req.query);
      case 'row':
        return fetchRow(db, describeTable(db, req.table), req.key.map(fromWire)) ?? null;
      case 'console':
        return runConsoleScript(db, req.sql);
    }
  } finally {
    db.close();
  }
}

process.on('message', (req: ReadRequest) => {
  let reply: ReadReply;
  try {
    reply = { id: req.id, ok: true, value: answer(req) };
  } catch (err) {
    reply = { id: req.id, ok: false, code: err instanceof LitefleetError ? err.code : 'EREADER', error: (err as Error).message };
  }
  process.send!(reply);
});
// The node is gone (or dropped this reader): nothing is left to answer.
process.on('disconnect', () => process.exit(0));
