import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { startCluster, type Cluster } from '../helpers/cluster.ts';
import { freePort, NodeProcess, runCli } from '../helpers/node-process.ts';
import { createAppDatabase, databaseChecksum, dumpRows, integrityCheck, runSqliteCli, runWriter, startReader } from '../helpers/sqlite.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { ltxFilesAt, segmentFilesIn } from '../../src/log/segment-files.ts';
import { parseSegmentName } from '../../src/log/segment.ts';
import { decodeHeader } from '../../src/ltx/header.ts';
import { FrameParser, FrameType } from '../../src/protocol/frames.ts';
import { waitFor } from '../helpers/wait.ts';

const DB = 'sqlite.db';

function dbOf(n: NodeProcess, name = DB): string {
  return path.join(n.dir, name);
}

/** Waits until the primary has logged `txid` and every replica has it, then checks checksums and rows are the same everywhere. */
async function assertConverged(c: Cluster, txid: number, name = DB): Promise<void> {
  await c.primary.waitForTxid(name, txid);
  for (const r of c.replicas) await r.waitForTxid(name, txid);
  const primary = databaseChecksum(dbOf(c.primary, name));
  const rows = dumpRows(dbOf(c.primary, name));
  for (const r of c.replicas) {
    assert.equal(databaseChecksum(dbOf(r, name)).checksum, primary.checksum, `${r.root} has the primary's checksum`);
    assert.deepEqual(dumpRows(dbOf(r, name)), rows, `${r.root} has the primary's rows`);
    assert.equal(integrityCheck(dbOf(r, name)), 'ok');
  }
  const info = (await c.primary.info()).databases.find((d) => d.name === name)!;
  assert.equal(info.txid, txid, 'one TXID per commit on the primary');
}

async function clusterWithDatabase(size = 3, extraConfig = ''): Promise<Cluster> {
  const c = await startCluster(size, extraConfig);
  createAppDatabase(dbOf(c.primary));
  for (const n of c.nodes) await n.waitForTxid(DB, 1);
  return c;
}

test('three nodes: writers on the primary, readers on every replica never see a broken invariant', async () => {
  const c = await clusterWithDatabase(3);
  const readers = c.replicas.flatMap((r) => [startReader(dbOf(r)), startReader(dbOf(r))]);
  const lines = ['.timeout 5000'];
  for (let i = 0; i < 200; i++) lines.push(`BEGIN; UPDATE accounts SET balance = balance - 7 WHERE id = ${1 + (i % 100)}; UPDATE accounts SET balance = balance + 7 WHERE id = ${1 + ((i * 37) % 100)}; INSERT INTO log(note) VALUES ('cli ${i}'); COMMIT;`);
  lines.push('CREATE INDEX log_note_cli ON log(note);', 'DELETE FROM log WHERE id % 2 = 0;', 'VACUUM;');
  const [a, b] = await Promise.all([runWriter(dbOf(c.primary), 'transfers', 3000, 3, 1500), runWriter(dbOf(c.primary), 'mixed', 800, 4)]);
  await runSqliteCli(dbOf(c.primary), `${lines.join('\n')}\n`);
  const txid = 1 + a.commits + b.commits + 203;
  await assertConverged(c, txid);
  for (const reader of readers) {
    const seen = await reader.stop();
    assert.deepEqual(seen.errors, [], 'no reader query failed');
    assert.deepEqual(seen.violations, [], 'no reader saw a half-applied transaction');
    assert.ok(seen.iterations > 100, `reader ran (${seen.iterations} iterations)`);
  }
  // Replicas refuse local writes: the node holds the write lock between applies.
  await assert.rejects(runSqliteCli(dbOf(c.replicas[0]!), ".timeout 200\nINSERT INTO t(v) VALUES ('local');\n"), /database is locked/);
  assert.equal(fs.readFileSync(path.join(c.replicas[0]!.dir, '.primary'), 'utf8'), 'node1');

  const status = await runCli(['status', '-c', c.replicas[1]!.configPath, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const out = JSON.parse(status.stdout) as { node: { role: string }; nodes: Array<{ role: string; databases: Array<{ txid: number; lagTxids: number }> }> };
  assert.equal(out.node.role, 'replica');
  assert.deepEqual(out.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
  // Replicas report their position every second: wait until the primary has both reports of the last TXID.
  await waitFor(async () => {
    const acked = Object.values((await c.primary.database(DB))?.replicas ?? {});
    return acked.length === 2 && acked.every((t) => t === txid);
  }, 5_000, `both replicas to report TXID ${txid} to the primary`);
  const again = JSON.parse((await runCli(['status', '-c', c.replicas[1]!.configPath, '--json'])).stdout) as typeof out;
  for (const n of again.nodes) assert.deepEqual(n.databases.map((d) => [d.txid, d.lagTxids]), [[txid, 0]], JSON.stringify(n));
  // Replicas log every transaction they applied, as the primary does, unmerged: the same chain.
  for (const n of c.nodes) {
    const verify = await runCli(['ltx', 'verify', path.join(n.dataDir, 'dbs', DB)]);
    assert.equal(verify.code, 0, verify.stdout);
    assert.match(verify.stdout, new RegExp(`^${txid - 1} passed, 0 failed`, 'm'), `${n.root}: one file per transaction after the first snapshot`);
  }
  const table = await runCli(['status', '-c', c.primary.configPath]);
  assert.match(table.stdout, /REPLICA\s+sqlite\.db\s+\d+\s+0\s+0ms/);
});

test('a database created on the primary appears on the replicas; a deleted one is dropped', async () => {
  const c = await clusterWithDatabase(2);
  const other = dbOf(c.primary, 'other.db');
  createAppDatabase(other);
  // Captured before the writer starts, or its first commits fold into the first snapshot.
  await c.primary.waitForTxid('other.db', 1);
  await runWriter(other, 'inserts', 50);
  await assertConverged(c, 51, 'other.db');
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${other}${suffix}`, { force: true });
  // The node logs after it drops the file, and its log reaches us through a pipe: wait for both.
  await waitFor(
    () => !fs.existsSync(dbOf(c.replicas[0]!, 'other.db')) && /deleted on the primary; dropped it here/.test(c.replicas[0]!.output),
    10_000,
    () => `other.db to be dropped on the replica, with a warning\n${c.replicas[0]!.output}\n${c.primary.output}`,
    100,
  );
  await assertConverged(c, 1);
});

test('a replica killed mid-apply restarts and converges; one offline past retention gets a snapshot', async () => {
  const c = await clusterWithDatabase(3, 'ltx:\n  retention: 1s\n  retention-interval: 200ms\n');
  const writer = runWriter(dbOf(c.primary), 'mixed', 1500, 5);
  // Mid-apply: once replica 1 has applied 200 of the writer's transactions.
  await c.replicas[0]!.waitForTxid(DB, 200);
  await c.replicas[0]!.kill();
  await c.replicas[1]!.stop();
  await c.replicas[0]!.restart();
  let { commits } = await writer;
  // Replica 2 comes back once the files it needs are past retention on the primary: its log starts later.
  const needed = decodeHeader(ltxFilesAt(path.join(c.replicas[1]!.dataDir, 'dbs', DB)).at(-1)!.bytes).maxTxid + 1;
  const logStart = () => parseSegmentName(path.basename(segmentFilesIn(path.join(c.primary.dataDir, 'dbs', DB))[0]!))!;
  // Only a closed segment is pruned, and a segment closes at a write past its age: a replica that
  // kept up with the writer needs one the writer's last write went to, so writes go on meanwhile.
  await waitFor(
    async () => {
      if (logStart() > needed) return true;
      commits += (await runWriter(dbOf(c.primary), 'transfers', 1, 7)).commits;
      return false;
    },
    20_000,
    () => `the primary's log to start after TXID ${needed} (it starts at ${logStart()})`,
  );
  await c.replicas[1]!.restart();
  await assertConverged(c, 1 + commits);
  assert.match(c.primary.output, /sent snapshot to replica/);
});

test('a replica file changed behind the node is reset from the primary', async () => {
  const c = await clusterWithDatabase(2);
  await runWriter(dbOf(c.primary), 'transfers', 100);
  await assertConverged(c, 101);
  const replica = c.replicas[0]!;
  await replica.stop();
  await runSqliteCli(dbOf(replica), 'UPDATE accounts SET balance = 0 WHERE id = 1;\n');
  await replica.restart();
  await runWriter(dbOf(c.primary), 'transfers', 20, 9);
  await assertConverged(c, 121);
  assert.match(replica.output, /does not match its recorded position; resetting from primary/);

  // One SQLite cannot open at all is moved aside, never deleted, and rebuilt.
  await replica.stop();
  fs.writeFileSync(dbOf(replica), Buffer.alloc(8192, 0x5a));
  await replica.restart();
  await runWriter(dbOf(c.primary), 'transfers', 10, 12);
  await assertConverged(c, 131);
  assert.match(replica.output, /cannot be opened; moved it aside and resetting from primary/);
  assert.equal(fs.readdirSync(replica.dir).filter((f) => /^sqlite\.db\.broken-\d+$/.test(f)).length, 1);

  // A replica claiming to be ahead of the primary is told where the primary's history has been,
  // then gets a snapshot.
  const snapshotsBefore = c.primary.output.match(/sent snapshot to replica/g)?.length ?? 0;
  const ahead = new AbortController();
  const res = await fetch(`${c.primary.url}/stream`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.primary.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ nodeId: 'ABCDEF0123456789', positions: { [DB]: '00000000000f4240/8000000000000001' } }),
    signal: ahead.signal,
  });
  const parser = new FrameParser();
  const types: number[] = [];
  const reader = res.body!.getReader();
  while (!types.includes(FrameType.LtxEnd)) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const f of parser.push(Buffer.from(value))) types.push(f.type);
  }
  ahead.abort();
  const upToSnapshot = types.slice(0, types.indexOf(FrameType.LtxEnd) + 1).filter((t) => t !== FrameType.LtxData);
  assert.deepEqual(upToSnapshot, [FrameType.Terms, FrameType.Diverged, FrameType.LtxBegin, FrameType.LtxEnd]);
  await waitFor(() => c.primary.output.match(/sent snapshot to replica/g)?.length === snapshotsBefore + 1, 5_000, 'the primary to log the snapshot it sent');
});

test('a foreign write on a running replica is detected and undone', async () => {
  const c = await clusterWithDatabase(2);
  const replica = c.replicas[0]!;
  // An app that ignores read-only mode and spins for the write lock: it gets in between two applies
  // (there are gaps only while the replica applies, so writers run until it has).
  const foreign = new Database(dbOf(replica), { timeout: 0 });
  let commits = 0;
  let won = false;
  for (let seed = 11; !won; seed++) {
    assert.ok(seed < 41, 'the foreign app never got the write lock between two applies');
    const writer = runWriter(dbOf(c.primary), 'transfers', 600, seed, 600);
    const end = Date.now() + 1_500;
    while (!won && Date.now() < end) {
      try {
        foreign.exec('BEGIN IMMEDIATE');
        won = true;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      }
    }
    if (won) {
      foreign.prepare('UPDATE accounts SET balance = balance + 1 WHERE id = 1').run();
      foreign.exec('COMMIT');
    }
    commits += (await writer).commits;
  }
  foreign.close();
  await assertConverged(c, 1 + commits);
  assert.match(replica.output, /foreign write on replica database sqlite\.db; resetting from primary/);
});

test('the stream needs the token; a replica with a wrong token or from another cluster gets nothing', async () => {
  const c = await clusterWithDatabase(2);
  const noToken = await fetch(`${c.primary.url}/stream`, { method: 'POST', body: '{}' });
  assert.equal(noToken.status, 401);
  const wrong = await fetch(`${c.primary.url}/stream`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer wrong-token-wrong-token' } });
  assert.equal(wrong.status, 401);
  const otherCluster = await fetch(`${c.primary.url}/stream`, {
    method: 'POST',
    body: JSON.stringify({ nodeId: 'X', positions: {} }),
    headers: { authorization: `Bearer ${c.primary.token}`, 'litefleet-cluster-id': 'LFC0000000000000001' },
  });
  assert.equal(otherCluster.status, 409);
  assert.match(((await otherCluster.json()) as { error: string }).error, /another cluster/);

  const root = makeTempDir();
  const stranger = await NodeProcess.start({ root, candidate: false, primaryUrl: c.primary.url, token: 'a-different-token-entirely' });
  await waitFor(() => /primary answered 401/.test(stranger.output), 5_000, () => `the stranger to be refused\n${stranger.output}`);
  assert.deepEqual((await stranger.info()).databases, []);
  await stranger.stop();
});

test('a corrupted LTX on the wire is rejected and asked for again', async () => {
  const c = await clusterWithDatabase(1);
  const { commits } = await runWriter(dbOf(c.primary), 'mixed', 300, 2);
  await c.primary.waitForTxid(DB, 1 + commits);
  // A TCP relay that flips one bit inside the first response's body (the snapshot's pages).
  const port = await freePort();
  let flipped = false;
  const relay = net.createServer((client) => {
    const upstream = net.connect(c.primary.port, '127.0.0.1');
    client.pipe(upstream);
    let seen = 0;
    let bodyAt = -1;
    upstream.on('data', (chunk: Buffer) => {
      if (!flipped) {
        const text = chunk.toString('latin1');
        if (bodyAt < 0 && text.includes('\r\n\r\n')) bodyAt = seen + text.indexOf('\r\n\r\n') + 4;
        const target = bodyAt + 6000;
        if (bodyAt >= 0 && target >= seen && target < seen + chunk.length) {
          chunk[target - seen]! ^= 0x04;
          flipped = true;
        }
      }
      seen += chunk.length;
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => relay.listen(port, '127.0.0.1', r));
  try {
    const replica = await NodeProcess.start({ root: makeTempDir(), candidate: false, primaryUrl: `http://127.0.0.1:${port}`, token: c.primary.token });
    await replica.waitForTxid(DB, 1 + commits);
    assert.ok(flipped, 'the relay corrupted the stream');
    assert.match(replica.output, /corrupted LTX file for sqlite\.db on the wire \(file checksum mismatch/);
    assert.equal(databaseChecksum(dbOf(replica)).checksum, databaseChecksum(dbOf(c.primary)).checksum);
    await replica.stop();
  } finally {
    relay.close();
  }
});

test('files over 8 MB are spooled to disk on the replica: a big transaction, a reset and a bootstrap', async () => {
  const c = await clusterWithDatabase(2);
  const blobs = Array.from({ length: 12 }, () => 'INSERT INTO log(note, blob) VALUES (\'big\', randomblob(1048576));').join(' ');
  await runSqliteCli(dbOf(c.primary), `.timeout 5000\nBEGIN; ${blobs} COMMIT;\n`);
  await assertConverged(c, 2);
  const replica = c.replicas[0]!;
  const segments = path.join(replica.dataDir, 'dbs', DB, 'segments');
  assert.ok(fs.readdirSync(segments).includes('0000000000000002.seg'), 'the spooled file joined the replica log as a segment');
  assert.ok(fs.statSync(path.join(segments, '0000000000000002.seg')).size > 12 * 1024 * 1024);

  await replica.stop();
  await runSqliteCli(dbOf(replica), 'UPDATE accounts SET balance = 0 WHERE id = 2;\n');
  await replica.restart();
  await runWriter(dbOf(c.primary), 'transfers', 5, 3);
  await assertConverged(c, 7);
  assert.match(replica.output, /resetting from primary/);

  const fresh = await NodeProcess.start({ root: makeTempDir(), candidate: false, primaryUrl: c.primary.url, token: c.primary.token });
  try {
    await fresh.waitForTxid(DB, 7);
    assert.equal(databaseChecksum(dbOf(fresh)).checksum, databaseChecksum(dbOf(c.primary)).checksum);
    assert.equal(integrityCheck(dbOf(fresh)), 'ok');
    assert.deepEqual(fs.readdirSync(path.join(fresh.dataDir, 'dbs', DB, 'segments')).filter((f) => f.endsWith('.tmp')), [], 'no spool file left');
  } finally {
    await fresh.stop();
  }
});
