import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { startEtcd } from '../helpers/etcd.ts';
import { startLeaseCluster, waitForPrimary } from '../helpers/lease-cluster.ts';
import { freePort, runCli, type NodeProcess } from '../helpers/node-process.ts';
import { heldLocks } from '../helpers/locks.ts';
import { runSqliteCli, runWriter } from '../helpers/sqlite.ts';
import { TcpRelay } from '../helpers/tcp-relay.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'app.db';

async function txidOf(n: NodeProcess): Promise<number> {
  return (await n.info()).databases.find((d) => d.name === DB)?.txid ?? 0;
}

function count(n: NodeProcess): number {
  const db = new Database(path.join(n.dir, DB), { readonly: true, timeout: 5000 });
  try {
    return db.prepare('SELECT count(*) FROM t').pluck().get() as number;
  } finally {
    db.close();
  }
}

async function insert(n: NodeProcess, rows: number, tag = 'row'): Promise<void> {
  const db = new Database(path.join(n.dir, DB), { timeout: 5000 });
  try {
    const ins = db.prepare('INSERT INTO t(v) VALUES (?)');
    for (let i = 0; i < rows; i++) ins.run(`${tag} ${i}`);
  } finally {
    db.close();
  }
}

const etcd = await startEtcd();

describe('failover invariants (real etcd)', { timeout: 120_000 }, () => {
  test('A: replicas that joined by snapshot and got nothing since continue the TXID sequence after the primary dies', async () => {
    const c = await startLeaseCluster({ size: 3, startNow: 1, backend: { type: 'etcd', url: etcd.url } });
    const [a, b, cc] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
    await waitForPrimary([a]);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    // Exactly (the CLI's new database may be logged as one snapshot or two).
    const created = (await a.waitForCapture(DB)).txid;
    await insert(a, 20);
    const before = await a.waitForTxid(DB, created + 20);
    await c.start(1);
    await c.start(2);
    for (const n of [b, cc]) await n.waitForTxid(DB, before);
    await a.kill();
    const next = await waitForPrimary([b, cc], 15_000);
    assert.equal(await txidOf(next), before, 'the new primary starts where the old one ended');
    await insert(next, 1);
    const other = next === b ? cc : b;
    await other.waitForTxid(DB, before + 1);
    assert.equal(await txidOf(next), before + 1);
    assert.doesNotMatch(next.output, /snapshot taken/, 'promotion takes no snapshot');
    assert.doesNotMatch(other.output, /discarded transactions|fork point/);
    assert.doesNotMatch(next.output, /sent snapshot to replica/, 'the other replica follows without a snapshot');
  });

  test('B: a restarted candidate gets every transaction a reachable replica has before it leads', async () => {
    // b looks at the lease once a second, the restarted c (up well before the 4 s lease runs
    // out) ten times a second: without knowing about b, c would mostly take the free lease first.
    const c = await startLeaseCluster({
      size: 3,
      ttl: '4s',
      backend: { type: 'etcd', url: etcd.url },
      leaseExtra: (i) => (i === 1 ? ['  reconnect-delay: 1s'] : []),
    });
    const [a, b, cc] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
    assert.equal(await waitForPrimary(c.nodes), a);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    // Exactly (the CLI's new database may be logged as one snapshot or two).
    const created = (await a.waitForCapture(DB)).txid;
    await insert(a, 100);
    const early = await a.waitForTxid(DB, created + 100);
    for (const n of [b, cc]) await n.waitForTxid(DB, early);
    await cc.stop();
    await insert(a, 400);
    await b.waitForTxid(DB, early + 400);
    const rows = count(b);
    await a.kill();
    await cc.restart();
    const next = await waitForPrimary([b, cc], 15_000);
    assert.equal(await txidOf(next), early + 400, `the new primary has every transaction the replica had; its log:\n${next.output.slice(-4000)}\nthe other's:\n${(next === b ? cc : b).output.slice(-3000)}`);
    await insert(next, 1);
    for (const n of [b, cc]) await n.waitForTxid(DB, early + 401);
    assert.equal(count(b), rows + 1);
    assert.equal(count(cc), rows + 1);
    for (const n of [b, cc]) assert.doesNotMatch(n.output, /discarded transactions/);
  });

  test('B: a candidate behind a non-candidate replica fetches what it lacks from it before it leads', async () => {
    const c = await startLeaseCluster({ size: 3, candidates: [true, false, true], backend: { type: 'etcd', url: etcd.url } });
    const [a, b, cc] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
    assert.equal(await waitForPrimary(c.nodes), a);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    // Exactly (the CLI's new database may be logged as one snapshot or two).
    const created = (await a.waitForCapture(DB)).txid;
    await insert(a, 50);
    const early = await a.waitForTxid(DB, created + 50);
    for (const n of [b, cc]) await n.waitForTxid(DB, early);
    await cc.stop();
    await insert(a, 300);
    await b.waitForTxid(DB, early + 300);
    const rows = count(b);
    await a.kill();
    await cc.restart();
    assert.equal(await waitForPrimary([b, cc], 15_000), cc);
    assert.equal(await txidOf(cc), early + 300, 'it leads with every transaction the replica had');
    assert.equal(count(cc), rows);
    await insert(cc, 1);
    await b.waitForTxid(DB, early + 301);
    assert.doesNotMatch(b.output, /discarded transactions/);
  });

  test('B: a restarted candidate further along, but on an older term than a replica, takes the replica\'s newer history before it leads', async () => {
    const c = await startLeaseCluster({ size: 3, candidates: [true, true, false], backend: { type: 'etcd', url: etcd.url } });
    const [x, y, z] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
    assert.equal(await waitForPrimary(c.nodes), x);
    await runSqliteCli(path.join(x.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    // The CLI's new database may be logged as one snapshot or two.
    const created = (await x.waitForCapture(DB)).txid;
    await insert(x, 10);
    const shared = await x.waitForTxid(DB, created + 10);
    for (const n of [y, z]) await n.waitForTxid(DB, shared);
    // x goes on alone to TXID 61 and dies; y leads from 11 under a newer term, z follows it to 16.
    await y.stop();
    await z.stop();
    await insert(x, 50);
    await x.waitForTxid(DB, shared + 50);
    await x.kill();
    await y.restart();
    await z.restart();
    assert.equal(await waitForPrimary([y], 15_000), y);
    // Not the rows x wrote at those TXIDs: identical states would be one history.
    await insert(y, 5, 'y');
    await z.waitForTxid(DB, shared + 5);
    const rows = count(z);
    // y dies; x comes back with the longer log, written under the older term.
    await y.kill();
    await x.restart();
    assert.equal(await waitForPrimary([x], 15_000), x);
    assert.equal(count(x), rows, `x leads with the history z had; its log:\n${x.output.slice(-3000)}`);
    assert.match(x.output, new RegExp(`discarded transactions ${shared + 1}-${shared + 50} of ${DB}`), 'what x wrote alone is set aside, kept');
    await insert(x, 1);
    await z.waitForTxid(DB, (await txidOf(x)));
    assert.equal(count(z), rows + 1);
    assert.doesNotMatch(z.output, /discarded transactions/, 'z keeps its history');
  });

  test('B: a candidate promoted while it resets from a primary that died continues the TXIDs from its database, and the old primary rejoins it', async () => {
    // a is reached through a relay, to slow the snapshot it sends b down to a crawl.
    const ports = [await freePort(), await freePort()];
    const relay = await TcpRelay.start(`http://127.0.0.1:${ports[0]}`);
    const c = await startLeaseCluster({ size: 2, ports, advertiseUrl: (i) => (i === 0 ? relay.url : undefined), backend: { type: 'etcd', url: etcd.url } });
    const [a, b] = c.nodes as [NodeProcess, NodeProcess];
    assert.equal(await waitForPrimary(c.nodes), a);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    // The CLI's new database may be logged as one snapshot or two.
    const created = (await a.waitForCapture(DB)).txid;
    await insert(a, 10);
    const shared = await a.waitForTxid(DB, created + 10);
    await b.waitForTxid(DB, shared);
    // b leads and writes what a never gets; then a leads again (b down) and writes what b lacks.
    await a.kill();
    assert.equal(await waitForPrimary([b], 15_000), b);
    await insert(b, 5);
    await b.waitForTxid(DB, shared + 5);
    await b.kill();
    await a.restart();
    assert.equal(await waitForPrimary([a], 15_000), a);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nINSERT INTO t(v) VALUES (randomblob(4000000));');
    await a.waitForTxid(DB, shared + 1);
    // b rejoins: a finds their histories forked after TXID 11, b sets its own aside and waits
    // for a's database, which the slow link takes seconds to bring; a dies before it arrives.
    relay.throttle(200_000);
    await b.restart();
    await waitFor(() => new RegExp(`discarded transactions ${shared + 1}-${shared + 5} of ${DB}`).test(b.output), 15_000, () => `b to set its history aside:\n${b.output.slice(-3000)}`);
    relay.cut();
    await a.kill();
    assert.equal(await waitForPrimary([b], 15_000), b);
    assert.match(b.output, /snapshot taken: promoted while resetting/);
    assert.equal(await txidOf(b), shared + 6, 'the TXIDs go on after the highest b had');
    await insert(b, 1);
    await b.waitForTxid(DB, shared + 7);
    relay.heal();
    await a.restart();
    await a.waitForTxid(DB, shared + 7);
    assert.equal(count(a), 10 + 5 + 1);
    assert.equal(count(b), 10 + 5 + 1);
    // b's log starts over at its snapshot, so a cannot tell where they forked: it sets aside all it had.
    assert.match(a.output, new RegExp(`discarded transactions \\d+-${shared + 1} of ${DB}`), "a sets aside the transaction b's history does not have");
  });

  test('C: a node keeps its SQLite locks across every role change, so an app closing its connection cannot delete the WAL under it', async () => {
    const c = await startLeaseCluster({ size: 2, backend: { type: 'etcd', url: etcd.url } });
    const [a, b] = c.nodes as [NodeProcess, NodeProcess];
    assert.equal(await waitForPrimary(c.nodes), a);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    await insert(a, 10);
    await b.waitForTxid(DB, await txidOf(a));
    const check = (n: NodeProcess, when: string) => {
      const held = heldLocks(n.pid!, path.join(n.dir, DB));
      assert.ok(held.db > 0 && held.shm > 0, `${when}: ${path.basename(n.root)} holds ${held.db} locks on the database and ${held.shm} on -shm`);
    };
    check(a, 'primary');
    check(b, 'replica');
    for (let round = 0; round < 2; round++) {
      const [from, to] = round === 0 ? [a, b] : [b, a];
      const out = await runCli(['handoff', '-c', from.configPath]);
      assert.match(out.stdout, /primary is now/, out.stderr);
      await waitFor(async () => (await to.role()) === 'primary' && (await from.role()) === 'replica', 10_000, 'the handoff');
      check(from, `demoted after handoff ${round + 1}`);
      check(to, `promoted by handoff ${round + 1}`);
      // An app on the demoted node opens and closes its connection: SQLite must see the node's
      // locks and leave -wal and -shm alone, and a write there must still be refused.
      const reader = new Database(path.join(from.dir, DB), { readonly: true, timeout: 5000 });
      reader.prepare('SELECT count(*) FROM t').get();
      reader.close();
      assert.ok(fs.existsSync(path.join(from.dir, `${DB}-shm`)), 'the -shm file is still there');
      check(from, `demoted, after an app closed its connection (round ${round + 1})`);
      await assert.rejects(runSqliteCli(path.join(from.dir, DB), '.timeout 200\nINSERT INTO t(v) VALUES (\'on a replica\');'), /locked|readonly/);
      await insert(to, 5);
      const want = (await to.waitForCapture(DB)).txid;
      await from.waitForTxid(DB, want);
      assert.equal(count(from), count(to), 'an app reading the demoted node sees what its node reports');
    }
  });

  test('E: a replica killed at any moment while it applies resumes from where its database is, without a snapshot', async () => {
    const c = await startLeaseCluster({ size: 2, candidates: [true, false], backend: { type: 'etcd', url: etcd.url } });
    const [a, b] = c.nodes as [NodeProcess, NodeProcess];
    assert.equal(await waitForPrimary(c.nodes), a);
    await runSqliteCli(path.join(a.dir, DB), '.timeout 5000\nPRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);');
    await b.waitForTxid(DB, await txidOf(a));
    const writer = runWriter(path.join(a.dir, DB), 'inserts', 4000, 3, 800);
    // Killed five times while transactions arrive: each time at some point between receiving,
    // logging and applying one.
    for (let k = 0; k < 5; k++) {
      await waitFor(async () => (await txidOf(b)) > (k + 1) * 400, 20_000, `replica progress before kill ${k + 1}`);
      await b.kill();
      await b.restart();
    }
    const { commits } = await writer;
    await b.waitForTxid(DB, await waitFor(async () => {
      const t = await txidOf(a);
      return t >= 1 + commits ? t : undefined;
    }, 20_000, 'the primary to log every write'));
    assert.equal(count(b), count(a));
    assert.equal(a.output.match(/sent snapshot to replica db=app\.db /g)?.length, 1, 'no snapshot after the first');
    assert.doesNotMatch(b.output, /does not match its recorded position|discarded transactions/);
  });
});
