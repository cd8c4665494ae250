import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createBackupTarget } from '../../src/backup/create-target.ts';
import { listGenerations } from '../../src/backup/restore.ts';
import { parseConfig } from '../../src/config/load-config.ts';
import { NodeProcess, runCli } from '../helpers/node-process.ts';
import { s3BackupConfig, startS3 } from '../helpers/s3.ts';
import { databaseChecksum } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'big.db';

/**
 * A database past the size from which restore applies a backup object while it arrives (8 MB):
 * its first snapshot is restored that way, from a directory and from S3, and a damaged one fails
 * naming the object, leaving no output.
 */
async function bigRestore(backupConfig: string): Promise<string> {
  const root = makeTempDir('litefleet-big-');
  fs.mkdirSync(path.join(root, 'live'));
  const live = path.join(root, 'live', DB);
  const db = new Database(live);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB)');
  const insert = db.prepare('INSERT INTO blobs(data) VALUES (?)');
  // Random, so nothing about the pages is regular; 12 MB spread over overflow pages.
  for (let i = 0; i < 48; i++) insert.run(crypto.randomBytes(256 * 1024));
  db.close();
  const node = await NodeProcess.start({ root, extraConfig: backupConfig });
  try {
    const target = createBackupTarget(parseConfig(`dir: /x\ndata-dir: /y\n${backupConfig}\n`, 'backup.yml').backup!);
    const txid = (await node.waitForCapture(DB)).txid;
    await waitFor(async () => (await listGenerations(target, DB)).some((g) => g.last.txid >= txid), 20_000, 'the snapshot to reach the backup', 200);
    const [snapshot] = (await target.list(`${DB}/`)).filter((o) => o.key.includes('/snapshots/'));
    assert.ok(snapshot!.size > 12 * 1024 * 1024, `snapshot of ${snapshot!.size} bytes`);
    const out = path.join(root, 'restored.db');
    const r = await runCli(['restore', '-c', node.configPath, '--db', DB, '--latest', '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(databaseChecksum(out).checksum, databaseChecksum(live).checksum);
    return snapshot!.key;
  } finally {
    await node.stop();
  }
}

test('a large snapshot restores while it streams from a directory; a damaged one fails with its name and no output', async () => {
  const dir = makeTempDir('litefleet-target-');
  const config = ['backup:', `  url: "file://${dir}"`].join('\n');
  const key = await bigRestore(config);
  const file = path.join(dir, key);
  const bytes = fs.readFileSync(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
  fs.writeFileSync(file, bytes);
  const cfg = path.join(makeTempDir('litefleet-cfg-'), 'litefleet.yml');
  fs.writeFileSync(cfg, ['dir: ./live', 'data-dir: ./data', 'http:', '  token: "test-token-0123456789abcdef"', config].join('\n'));
  const out = path.join(path.dirname(cfg), 'broken.db');
  const r = await runCli(['restore', '-c', cfg, '--db', DB, '--latest', '-o', out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`backup file file://.*${path.basename(key).replace(/\./g, '\\.')} is damaged: file checksum mismatch`));
  assert.deepEqual(fs.readdirSync(path.dirname(cfg)).filter((f) => f.startsWith('broken')), []);
});

test('a large snapshot restores while it streams from S3 (s3rver)', async () => {
  const s3 = await startS3();
  await bigRestore(s3BackupConfig(s3, 'big'));
});
