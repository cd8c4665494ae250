import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { createBackupTarget } from '../../src/backup/create-target.ts';
import { BackupMaintenance, backupKeys } from '../../src/backup/maintenance.ts';
import { restoreDatabase } from '../../src/backup/restore.ts';
import { parseConfig } from '../../src/config/load-config.ts';
import { formatHex64 } from '../../src/ltx/checksum.ts';
import { decodeHeader } from '../../src/ltx/header.ts';
import { ltxFilesAt } from '../../src/log/segment-files.ts';
import { NodeProcess, runCli, sleep } from '../helpers/node-process.ts';
import { s3BackupConfig, startS3 } from '../helpers/s3.ts';
import { databaseChecksum, runSqliteCli } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';

/** Every transaction the node logged: TXID → its checksum after and its timestamp (the reference states). */
function loggedStates(node: NodeProcess): Map<number, { checksum: bigint; timestamp: number }> {
  const out = new Map<number, { checksum: bigint; timestamp: number }>();
  for (const { bytes: buf } of ltxFilesAt(path.join(node.dataDir, 'dbs', DB))) {
    const h = decodeHeader(buf);
    out.set(h.maxTxid, { checksum: buf.readBigUInt64BE(buf.length - 16), timestamp: h.timestamp });
  }
  return out;
}

/** A deterministic pseudo-random sequence (the same restore points every run). */
function* randomInts(seed: number, below: number): Generator<number> {
  for (;;) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    yield seed % below;
  }
}

// Compactions and snapshots every few seconds, so the restores below go through every level.
const FAST_LEVELS = ['  l1-interval: 1s', '  l2-interval: 2s', '  l3-interval: 3s', '  snapshot-interval: 2500ms'].join('\n');
/** The folders of a backup, one per level. */
const LEVELS = ['l0', 'l1', 'l2', 'l3', 'snapshots'];

async function backupScenario(targetConfig: string): Promise<void> {
  const backupConfig = `${targetConfig}\n${FAST_LEVELS}`;
  const target = createBackupTarget(parseConfig(`dir: /x\ndata-dir: /y\n${backupConfig}\n`, 'backup.yml').backup!);
  const root = makeTempDir('litefleet-backup-');
  const node = await NodeProcess.start({ root, extraConfig: backupConfig });
  try {
    await runSqliteCli(path.join(node.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, at INTEGER);');
    await node.waitForTxid(DB, 1);
    // The app writes for a few seconds, in bursts of 10 with a pause between (time passing is the
    // point: the backup gets several segments and the compactions run at every level meanwhile).
    const app = new Database(path.join(node.dir, DB), { timeout: 5000 });
    const insert = app.prepare('INSERT INTO t(v, at) VALUES (?, ?)');
    for (let i = 0; i < 400; i++) {
      insert.run(`row ${i} ${'x'.repeat(i % 300)}`, Date.now());
      if (i % 20 === 0) app.exec(`UPDATE t SET v = 'updated' WHERE id = ${Math.max(1, i - 7)}`);
      if (i % 10 === 0) await sleep(120);
    }
    app.close();
    // The snapshot holding the table, then 400 inserts and 20 updates, each its own transaction.
    await node.waitForTxid(DB, 421);
    // The exact last TXID: the CLI's database may have been logged as one snapshot or two.
    const last = (await node.waitForCapture(DB)).txid;
    // Everything reaches the backup; the compactions write every level.
    const levels = async () => [...new Set((await target.list(`${DB}/`)).map((o) => o.key.split('/')[2]))].sort();
    await node.waitForBackup(DB, last);
    await waitFor(async () => {
      const written = await levels();
      return LEVELS.every((l) => written.includes(l));
    }, 5_000, 'a backup object at every level', 100);
    const states = loggedStates(node);
    assert.ok(states.has(last) && last > 400, `log holds every transaction up to ${last}`);

    const ls = await runCli(['backup', 'ls', '-c', node.configPath, '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    const [gen] = JSON.parse(ls.stdout) as Array<{ db: string; first: { txid: number }; last: { txid: number }; files: number }>;
    assert.equal(gen!.db, DB);
    assert.equal(gen!.last.txid, last, 'everything reached the backup');
    assert.ok(gen!.files > 3, `${gen!.files} objects`);
    assert.deepEqual(await levels(), LEVELS, 'every level was written');

    // 50 restore points: half by TXID, half by timestamp, each compared with the state the node logged then.
    const work = makeTempDir('litefleet-restore-');
    const txids = [...states.keys()].filter((t) => t >= gen!.first.txid).sort((a, b) => a - b);
    const pick = randomInts(7, txids.length);
    for (let i = 0; i < 50; i++) {
      const txid = txids[pick.next().value as number]!;
      const out = path.join(work, `r${i}.db`);
      const byTime = i % 2 === 1;
      const ref = states.get(txid)!;
      // By time: the moment of that transaction; the restore must stop exactly there (unless the next one shares the millisecond).
      const args = byTime ? ['--timestamp', new Date(ref.timestamp).toISOString()] : ['--txid', String(txid)];
      let got: number;
      if (i < 4) {
        // A few through the CLI, as a user runs it; the rest in-process (a CLI start costs a second).
        const r = await runCli(['restore', '-c', node.configPath, '--db', DB, ...args, '-o', out]);
        assert.equal(r.code, 0, r.stderr);
        got = Number(/at TXID (\d+)/.exec(r.stdout)?.[1]);
      } else {
        got = (await restoreDatabase(target, DB, byTime ? { timestamp: ref.timestamp } : { txid }, out)).txid;
      }
      const expected = byTime ? Math.max(...txids.filter((t) => states.get(t)!.timestamp <= ref.timestamp)) : txid;
      assert.equal(got, expected, `restore ${args.join(' ')}`);
      assert.equal(formatHex64(databaseChecksum(out).checksum), formatHex64(states.get(expected)!.checksum), `content at TXID ${expected}`);
    }
    // Retention with the window opening at a snapshot in the middle: what lies wholly before it
    // goes, every transaction after it stays restorable, and earlier points are refused clearly.
    const snaps = (await backupKeys(target, DB)).filter((k) => k.kind === 'snapshot').sort((a, b) => a.maxTxid - b.maxTxid);
    const base = snaps[Math.floor(snaps.length / 2)]!;
    const opened = decodeHeader(await target.get(base.key)).timestamp;
    const removed = await new BackupMaintenance(target, pino({ level: 'silent' })).retain(DB, Date.now() - opened);
    assert.ok(removed > 0, 'retention removed files');
    const left = await backupKeys(target, DB);
    assert.deepEqual(left.filter((k) => k.maxTxid <= base.maxTxid).map((k) => k.key), [base.key], 'only the base snapshot is left of what came before it');
    for (let i = 0; i < 10; i++) {
      const kept = txids.filter((t) => t >= base.maxTxid);
      const txid = kept[pick.next().value! % kept.length]!;
      const out = path.join(work, `kept${i}.db`);
      await restoreDatabase(target, DB, { txid }, out);
      assert.equal(databaseChecksum(out).checksum, states.get(txid)!.checksum, `TXID ${txid} after retention`);
    }
    if (base.maxTxid > txids[0]!) {
      await assert.rejects(restoreDatabase(target, DB, { txid: txids[0]! }, path.join(work, 'gone.db')), /cannot be restored to TXID|no snapshot/);
    }

    const latest = path.join(work, 'latest.db');
    assert.equal((await runCli(['restore', '-c', node.configPath, '--db', DB, '--latest', '-o', latest])).code, 0);
    assert.equal(databaseChecksum(latest).checksum, databaseChecksum(path.join(node.dir, DB)).checksum);
    const again = await runCli(['restore', '-c', node.configPath, '--db', DB, '--latest', '-o', latest]);
    assert.match(again.stderr, /exists; restore writes a new file and never overwrites one/);
    const tooFar = await runCli(['restore', '-c', node.configPath, '--db', DB, '--txid', String(last + 10), '-o', path.join(work, 'x.db')]);
    assert.match(tooFar.stderr, /cannot be restored to TXID \d+: the backups hold \d+-\d+/);
  } finally {
    await node.stop();
  }
}

describe('continuous backup and point-in-time restore (compaction under writes, retention)', () => {
  test('file target: every transaction restorable by TXID and by time, verified against the logged states', async () => {
    const dir = makeTempDir('litefleet-target-');
    await backupScenario(['backup:', `  url: "file://${dir}"`].join('\n'));
    // A damaged object makes a restore that needs it fail with its name, and leaves no output
    // (one that does not need it, thanks to a later snapshot or compaction, is not affected).
    const segs = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.seg')).sort();
    const victim = path.join(dir, segs[1]!);
    const buf = fs.readFileSync(victim);
    buf[buf.length - 30]! ^= 0xff;
    fs.writeFileSync(victim, buf);
    const cfg = path.join(makeTempDir('litefleet-cfg-'), 'litefleet.yml');
    fs.writeFileSync(cfg, ['dir: ./live', 'data-dir: ./data', 'http:', '  token: "test-token-0123456789abcdef"', 'backup:', `  url: "file://${dir}"`].join('\n'));
    const out = path.join(path.dirname(cfg), 'broken.db');
    // The first transaction of the damaged segment: no snapshot or compaction ends exactly there, so the segment is needed.
    const needed = Number.parseInt(path.basename(victim).slice(0, 16), 16);
    const r = await runCli(['restore', '-c', cfg, '--db', DB, '--txid', String(needed), '-o', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`backup file file://.*${path.basename(victim).replace(/\./g, '\\.')} is damaged`));
    assert.equal(fs.existsSync(out), false);
  });

  test('S3 target (s3rver): the same', async () => {
    const s3 = await startS3();
    await backupScenario(s3BackupConfig(s3, 'prod/cluster1'));
  });
});
