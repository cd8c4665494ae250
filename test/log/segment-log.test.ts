import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { DatabaseChecksum } from '../../src/ltx/checksum.ts';
import { decodeLtx } from '../../src/ltx/decoder.ts';
import { encodeLtx } from '../../src/ltx/encoder.ts';
import type { LtxHeader } from '../../src/ltx/header.ts';
import { SegmentLog } from '../../src/log/segment-log.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

const PAGE = 512;

function page(seed: number): Buffer {
  return Buffer.alloc(PAGE, seed & 0xff);
}

function header(txid: number, pre: bigint): LtxHeader {
  return { flags: 0, pageSize: PAGE, commit: 2, minTxid: txid, maxTxid: txid, timestamp: Date.now(), preApplyChecksum: pre, walOffset: 0, walSize: 0, walSalt1: 0, walSalt2: 0, nodeId: 1n };
}

test("a sealed segment's index leaves memory once on disk, and is read back for catch-up reads and lookups", async () => {
  const dir = makeTempDir('litefleet-log-');
  // About 12 files per segment: 60 transactions make five sealed segments and a current one.
  const log = new SegmentLog(path.join(dir, 'db'), { maxSegmentBytes: 8 * 1024 });
  const sum = new DatabaseChecksum(PAGE);
  sum.setPage(1, page(1));
  sum.setPageCount(2);
  sum.setPage(2, page(2));
  log.reset({ txid: 1, checksum: sum.value });
  const posts = new Map<number, bigint>();
  for (let txid = 2; txid <= 61; txid++) {
    const pre = sum.value;
    sum.setPage(2, page(txid));
    log.append([encodeLtx(header(txid, pre), [{ pgno: 2, data: page(txid) }], sum.value)]);
    posts.set(txid, sum.value);
  }
  log.sync();
  assert.ok(log.segmentPaths.length >= 5, `${log.segmentPaths.length} segments`);
  assert.equal(log.indexesInMemory, 1, 'only the segment being written keeps its index in memory');

  // Every transaction reads back, one file at a time, from the index files.
  for (let txid = 2; txid <= 61; txid++) {
    const read = log.read(txid, 1)!;
    assert.equal(read.files.length, 1);
    const file = decodeLtx(read.files[0]!);
    assert.equal(file.header.minTxid, txid);
    assert.equal(file.trailer.postApplyChecksum, posts.get(txid));
    assert.deepEqual(read.pos, { txid, checksum: posts.get(txid) });
    assert.equal(log.checksumAt(txid), posts.get(txid));
  }
  assert.equal(log.indexesInMemory, log.segmentPaths.length, 'the reads loaded every index back');
  assert.equal(await log.prune(0), 0, 'nothing is old enough to go');
  assert.equal(log.indexesInMemory, 1, 'the retention pass released them again');
  log.close();

  // Opened again, the log keeps no index in memory until one is needed.
  const reopened = new SegmentLog(path.join(dir, 'db'), { maxSegmentBytes: 8 * 1024 });
  assert.deepEqual(reopened.recover().pos, { txid: 61, checksum: posts.get(61) });
  assert.equal(reopened.indexesInMemory, 0);
  assert.equal(reopened.checksumAt(30), posts.get(30));
  assert.equal(decodeLtx(reopened.read(45, 1)!.files[0]!).header.minTxid, 45);
  reopened.close();
});
