import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { formatPos } from '../../src/ltx/position.ts';
import { startCluster } from '../helpers/cluster.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';
import { createAppDatabase, databaseChecksum, runWriter } from '../helpers/sqlite.ts';

test('GET /events streams the role, then every new position, as newline-delimited JSON', async () => {
  const c = await startCluster(2);
  const replica = c.replicas[0]!;
  const unauthorized = await fetch(`${replica.url}/events`);
  assert.equal(unauthorized.status, 401);
  const ac = new AbortController();
  const res = await fetch(`${replica.url}/events`, { headers: { authorization: `Bearer ${replica.token}` }, signal: ac.signal });
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const events: Array<Record<string, unknown>> = [];
  const reading = readEvents(res, events);
  createAppDatabase(path.join(c.primary.dir, 'sqlite.db'));
  // The database's first snapshot reaches the replica before any write folds into it.
  await replica.waitForTxid('sqlite.db', 1);
  const { commits } = await runWriter(path.join(c.primary.dir, 'sqlite.db'), 'inserts', 30, 1, 200);
  await replica.waitForTxid('sqlite.db', 1 + commits);
  await waitFor(() => events.some((e) => e.type === 'tx' && e.db === 'sqlite.db' && e.txid === 1 + commits), 5_000, 'the last position on /events');
  ac.abort();
  await reading;
  assert.deepEqual(events[0], { type: 'role', role: 'replica', primary: 'node1' });
  const txids = events.filter((e) => e.type === 'tx' && e.db === 'sqlite.db').map((e) => e.txid as number);
  assert.equal(txids[0], 1, 'the first snapshot');
  assert.equal(txids[txids.length - 1], 1 + commits);
  for (let i = 1; i < txids.length; i++) assert.ok(txids[i]! > txids[i - 1]!, 'positions only move forward');
  const last = events.filter((e) => e.type === 'tx').at(-1)!;
  assert.equal(last.checksum, databaseChecksum(path.join(c.primary.dir, 'sqlite.db')).checksum.toString(16).padStart(16, '0'));
});

test('a stalled replica does not hold back the primary or the others; a restarted primary is followed again', async () => {
  const c = await startCluster(3);
  const db = path.join(c.primary.dir, 'sqlite.db');
  createAppDatabase(db);
  for (const n of c.nodes) await n.waitForTxid('sqlite.db', 1);
  const [slow, fast] = c.replicas as [typeof c.primary, typeof c.primary];
  process.kill(slow.pid!, 'SIGSTOP');
  try {
    const { commits } = await runWriter(db, 'mixed', 1500, 3);
    await fast.waitForTxid('sqlite.db', 1 + commits, 15_000);
  } finally {
    process.kill(slow.pid!, 'SIGCONT');
  }
  const target = (await c.primary.info()).databases[0]!.txid;
  await slow.waitForTxid('sqlite.db', target);

  await c.primary.stop();
  await c.primary.restart();
  const more = await runWriter(db, 'transfers', 200, 4);
  for (const r of c.replicas) await r.waitForTxid('sqlite.db', target + more.commits);
  for (const r of c.replicas) assert.equal(databaseChecksum(path.join(r.dir, 'sqlite.db')).checksum, databaseChecksum(db).checksum);
  const sinceRestart = c.primary.output.slice(c.primary.output.lastIndexOf('litefleet node started'));
  assert.doesNotMatch(sinceRestart, /sent snapshot to replica/, 'replicas resumed from their positions after the primary restarted');
  // A stream that drops under load reconnects and is counted again.
  assert.ok((sinceRestart.match(/replica connected/g)?.length ?? 0) >= 2, 'both replicas connected to the restarted primary');
});

test("the primary's /info and /events show what each replica has applied and how far the backup has got", async () => {
  const backupDir = makeTempDir('litefleet-events-backup-');
  const c = await startCluster(2, ['backup:', `  url: "file://${backupDir}"`].join('\n'));
  const replica = c.replicas[0]!;
  const replicaId = (await replica.info()).node.id;
  const ac = new AbortController();
  const res = await fetch(`${c.primary.url}/events`, { headers: { authorization: `Bearer ${c.primary.token}` }, signal: ac.signal });
  const events: Array<Record<string, unknown>> = [];
  const reading = readEvents(res, events);
  const db = path.join(c.primary.dir, 'sqlite.db');
  createAppDatabase(db);
  // Captured before the writer starts, or its first commits fold into the first snapshot.
  await c.primary.waitForTxid('sqlite.db', 1);
  const { commits } = await runWriter(db, 'inserts', 30, 1, 200);
  const txid = 1 + commits;
  await replica.waitForTxid('sqlite.db', txid);
  const { checksum } = (await c.primary.info()).databases[0]!;
  await waitFor(async () => {
    const d = (await c.primary.info()).databases[0]!;
    return d.replicas?.[replicaId] === txid && d.backup === formatPos({ txid, checksum: BigInt(`0x${checksum}`) });
  }, 10_000, 'the replica acknowledgement and the backup position in /info');
  await waitFor(() => events.some((e) => e.type === 'ack' && e.node === replicaId && e.txid === txid) && events.some((e) => e.type === 'backup' && e.txid === txid && e.checksum === checksum), 5_000, 'ack and backup events');
  const replicaInfo = (await replica.info()).databases[0]!;
  assert.equal(replicaInfo.replicas, undefined, 'only the primary lists replicas');
  assert.equal(replicaInfo.backup, undefined, 'only the primary backs up');
  ac.abort();
  await reading;
});

/** Collects the lines of a GET /events answer into `into` until it ends. */
async function readEvents(res: Response, into: Array<Record<string, unknown>>): Promise<void> {
  let buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) into.push(JSON.parse(line) as Record<string, unknown>);
      }
    }
  } catch {
    // aborted
  }
}
