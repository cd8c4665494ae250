import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotPrimaryError, TimeoutError } from '../../src/errors.ts';
import { ReplicaAcks } from '../../src/stream/replica-acks.ts';

test('ReplicaAcks: TXIDs only move forward, waiters resolve with the replicas that have theirs, time out or fail saying how many did', async () => {
  const heard: string[] = [];
  const acks = new ReplicaAcks({ onAck: (node, db, txid) => heard.push(`${node} ${db} ${txid}`), streaming: () => 2 });
  acks.ack('A', 'app.db', 5);
  acks.ack('A', 'app.db', 3);
  acks.ack('A', 'app.db', 5);
  assert.deepEqual(heard, ['A app.db 5'], 'a report that does not move a replica forward is not news');
  assert.deepEqual(await acks.waitFor('app.db', 4, 1, 10), ['A'], 'already there: at once');

  const two = acks.waitFor('app.db', 7, 2, 5_000);
  const other = acks.waitFor('other.db', 1, 1, 5_000);
  acks.ack('A', 'app.db', 7);
  acks.ack('B', 'app.db', 6);
  acks.ack('B', 'app.db', 9);
  assert.deepEqual((await two).sort(), ['A', 'B']);
  acks.ack('B', 'other.db', 1);
  assert.deepEqual(await other, ['B']);
  assert.deepEqual(acks.entries().sort(), [['A', 'app.db', 7], ['B', 'app.db', 9], ['B', 'other.db', 1]]);

  const late = await acks.waitFor('app.db', 8, 2, 30).catch((e: unknown) => e);
  assert.ok(late instanceof TimeoutError);
  assert.equal(late.message, 'TXID 8 of app.db is committed on the primary, but only 1 of the 2 replicas asked for confirmed it (B) within 30 ms; 2 replicas are streaming from the primary');

  const cut = acks.waitFor('app.db', 20, 1, 5_000);
  acks.close();
  await assert.rejects(cut, (e: unknown) => e instanceof NotPrimaryError && /only 0 of the 1 replica asked for confirmed it before this node stopped being the primary/.test(e.message));
});
