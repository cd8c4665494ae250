import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCommand } from '../../src/node/exec.ts';

test('exec commands are split with shell-word rules, without a shell', () => {
  assert.deepEqual(splitCommand(`sqlite3 "/litefs/my db.sqlite" 'PRAGMA journal_mode = WAL;'`), ['sqlite3', '/litefs/my db.sqlite', 'PRAGMA journal_mode = WAL;']);
  assert.deepEqual(splitCommand('npx prisma migrate deploy'), ['npx', 'prisma', 'migrate', 'deploy']);
  assert.throws(() => splitCommand('npm run build && npm start'), /uses shell syntax .*sh -c/);
});
