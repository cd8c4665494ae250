import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabaseChecksum } from '../../src/ltx/checksum.ts';
import { decodeLtx } from '../../src/ltx/decoder.ts';
import { encodeLtx, type LtxPage } from '../../src/ltx/encoder.ts';
import { FLAG_COMPRESS_LZ4, type LtxHeader } from '../../src/ltx/header.ts';
import { LtxStreamDecoder } from '../../src/ltx/stream-decoder.ts';

const PAGE = 512;

/** A snapshot of `count` distinct pages, encoded. */
function snapshot(count: number, flags = 0): Buffer {
  const pages: LtxPage[] = [];
  const sum = new DatabaseChecksum(PAGE);
  for (let pgno = 1; pgno <= count; pgno++) {
    const data = Buffer.alloc(PAGE);
    for (let i = 0; i < PAGE; i++) data[i] = (pgno * 31 + i * 7) & 0xff;
    pages.push({ pgno, data });
    sum.setPage(pgno, data);
  }
  sum.setPageCount(count);
  const header: LtxHeader = { flags, pageSize: PAGE, commit: count, minTxid: 1, maxTxid: 9, timestamp: 1_700_000_000_000, preApplyChecksum: 0n, walOffset: 0, walSize: 0, walSalt1: 0, walSalt2: 0, nodeId: 0n };
  return encodeLtx(header, pages, sum.value);
}

/** Feeds `bytes` in pieces of the given sizes (cycled) and collects everything. */
function feed(bytes: Buffer, sizes: number[]): { pages: LtxPage[]; end: () => ReturnType<LtxStreamDecoder['end']> } {
  const d = new LtxStreamDecoder();
  const pages: LtxPage[] = [];
  let off = 0;
  for (let i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    pages.push(...d.push(bytes.subarray(off, off + n)));
    off += n;
  }
  return { pages, end: () => d.end() };
}

test('pieces of any size give the pages, hashes, header and trailer decodeLtx gives', () => {
  const bytes = snapshot(40);
  const whole = decodeLtx(bytes);
  for (const sizes of [[1], [3, 7], [99, 1, 516, 2], [PAGE + 4], [bytes.length], [5000, 13]]) {
    const got = feed(bytes, sizes);
    const { header, trailer } = got.end();
    assert.deepEqual(header, whole.header, `pieces ${sizes.join(',')}`);
    assert.deepEqual(trailer, whole.trailer);
    assert.equal(got.pages.length, 40);
    got.pages.forEach((p, i) => {
      assert.equal(p.pgno, whole.pages[i]!.pgno);
      assert.ok(Buffer.from(p.data).equals(Buffer.from(whole.pages[i]!.data)), `page ${p.pgno}, pieces ${sizes.join(',')}`);
      assert.deepEqual(p.hash, whole.pages[i]!.hash);
    });
  }
});

test('a flipped byte, a missing end or extra bytes are caught; a compressed file is refused', () => {
  const bytes = snapshot(12);
  const flipped = Buffer.from(bytes);
  flipped[100 + 3 * (PAGE + 4) + 10]! ^= 0x01;
  assert.throws(() => feed(flipped, [700]).end(), /file checksum mismatch/);
  assert.throws(() => feed(bytes.subarray(0, bytes.length - 20), [700]).end(), /no terminator|unexpected bytes/);
  assert.throws(() => feed(bytes.subarray(0, bytes.length - 3), [700]).end(), /unexpected bytes/);
  assert.throws(() => feed(Buffer.concat([bytes, Buffer.alloc(5)]), [700]).end(), /unexpected bytes/);
  assert.throws(() => feed(bytes.subarray(0, 60), [700]).end(), /too short/);
  const outOfOrder = Buffer.from(bytes);
  outOfOrder.writeUInt32BE(1, 100 + PAGE + 4);
  assert.throws(() => feed(outOfOrder, [700]), /out of order/);
  assert.throws(() => feed(snapshot(3, FLAG_COMPRESS_LZ4), [700]), /compressed LTX files are read whole/);
});
