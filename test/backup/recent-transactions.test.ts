import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentTransactions } from '../../src/backup/recent-transactions.ts';

const tx = (txid: number, size = 10) => ({ bytes: Buffer.alloc(size, txid), minTxid: txid, pre: BigInt(txid - 1), pos: { txid, checksum: BigInt(txid) } });

test('finds the transaction continuing a position only when TXID and checksum both follow', () => {
  const r = new RecentTransactions();
  for (let t = 5; t <= 9; t++) r.add('a.db', tx(t));
  assert.equal(r.after('a.db', { txid: 6, checksum: 6n })?.minTxid, 7);
  assert.equal(r.after('a.db', { txid: 4, checksum: 4n })?.minTxid, 5);
  assert.equal(r.after('a.db', { txid: 6, checksum: 99n }), undefined, 'another history at TXID 6');
  assert.equal(r.after('a.db', { txid: 9, checksum: 9n }), undefined, 'nothing after the last');
  assert.equal(r.after('a.db', { txid: 3, checksum: 3n }), undefined, 'before the first');
  assert.equal(r.after('b.db', { txid: 6, checksum: 6n }), undefined, 'another database');
});

test('a transaction that does not follow the last starts over; forget drops everything', () => {
  const r = new RecentTransactions();
  r.add('a.db', tx(1));
  r.add('a.db', tx(2));
  r.add('a.db', { ...tx(3), pre: 77n });
  assert.equal(r.after('a.db', { txid: 0, checksum: 0n }), undefined);
  assert.equal(r.after('a.db', { txid: 2, checksum: 77n })?.minTxid, 3);
  r.forget('a.db');
  assert.equal(r.after('a.db', { txid: 2, checksum: 77n }), undefined);
});

test('keeps at most 32 MB a database, dropping the oldest first', () => {
  const r = new RecentTransactions();
  const size = 1024 * 1024;
  for (let t = 1; t <= 40; t++) r.add('a.db', tx(t, size));
  assert.equal(r.after('a.db', { txid: 7, checksum: 7n }), undefined, 'TXID 8 was dropped');
  assert.equal(r.after('a.db', { txid: 8, checksum: 8n })?.minTxid, 9);
  assert.equal(r.after('a.db', { txid: 39, checksum: 39n })?.minTxid, 40);
  for (let t = 41; t <= 5000; t++) r.add('a.db', tx(t, 100));
  assert.equal(r.after('a.db', { txid: 4000, checksum: 4000n })?.minTxid, 4001, 'still found after the array was compacted');
});
