import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ChecksumMismatchError, LtxFormatError } from '../../src/errors.ts';
import { CHECKSUM_FLAG, DatabaseChecksum, EMPTY_DATABASE_CHECKSUM, pageChecksum } from '../../src/ltx/checksum.ts';
import { compactLtx } from '../../src/ltx/compactor.ts';
import { crc64 } from '../../src/ltx/crc64.ts';
import { decodeLtx } from '../../src/ltx/decoder.ts';
import { encodeLtx, encodeTransaction } from '../../src/ltx/encoder.ts';
import { readLtxFile } from '../../src/ltx/file-reader.ts';
import { FLAG_COMPRESS_LZ4, HEADER_SIZE, type LtxHeader } from '../../src/ltx/header.ts';
import { formatPos, ltxFilename, parseLtxFilename, parsePos } from '../../src/ltx/position.ts';

const PAGE = 512;

function page(seed: number): Buffer {
  const b = Buffer.alloc(PAGE);
  for (let i = 0; i < PAGE; i++) b[i] = (seed * 17 + i * 3) & 0xff;
  return b;
}

/** Builds an LTX file byte by byte from the layout in reference/litefs.md §1.1, not through the encoder. */
function handMade(opts: { min: number; max: number; commit: number; pre: bigint; pages: Array<[number, Buffer]>; post: bigint; flags?: number }): Buffer {
  const header = Buffer.alloc(100);
  header.write('LTX1', 0, 'ascii');
  header.writeUInt32BE(opts.flags ?? 0, 4);
  header.writeUInt32BE(PAGE, 8);
  header.writeUInt32BE(opts.commit, 12);
  header.writeBigUInt64BE(BigInt(opts.min), 16);
  header.writeBigUInt64BE(BigInt(opts.max), 24);
  header.writeBigInt64BE(1_700_000_000_000n, 32);
  header.writeBigUInt64BE(opts.pre, 40);
  header.writeBigUInt64BE(0x1234n, 72);
  const frames = opts.pages.map(([pgno, data]) => {
    const f = Buffer.alloc(4 + PAGE);
    f.writeUInt32BE(pgno, 0);
    data.copy(f, 4);
    return f;
  });
  const post = Buffer.alloc(8);
  post.writeBigUInt64BE(opts.post);
  const body = Buffer.concat([header, ...frames, Buffer.alloc(4), post]);
  const fileSum = Buffer.alloc(8);
  fileSum.writeBigUInt64BE(CHECKSUM_FLAG | crc64(body));
  return Buffer.concat([body, fileSum]);
}

function dbSum(pages: Array<[number, Buffer]>, commit: number): bigint {
  const s = new DatabaseChecksum(PAGE);
  for (const [p, d] of pages) s.setPage(p, d);
  s.setPageCount(commit);
  return s.value;
}

const snapPages: Array<[number, Buffer]> = [
  [1, page(1)],
  [2, page(2)],
];
const snapPost = dbSum(snapPages, 2);
const snapshot = handMade({ min: 1, max: 1, commit: 2, pre: 0n, pages: snapPages, post: snapPost });

const header = (over: Partial<LtxHeader>): LtxHeader => ({
  flags: 0,
  pageSize: PAGE,
  commit: 2,
  minTxid: 1,
  maxTxid: 1,
  timestamp: 1_700_000_000_000,
  preApplyChecksum: 0n,
  walOffset: 0,
  walSize: 0,
  walSalt1: 0,
  walSalt2: 0,
  nodeId: 0x1234n,
  ...over,
});

test('a hand-made snapshot is 100 + 2·(4+512) + 4 + 16 bytes and decodes to its fields', () => {
  assert.equal(snapshot.length, 100 + 2 * (4 + PAGE) + 4 + 16);
  const f = decodeLtx(snapshot);
  assert.equal(f.header.minTxid, 1);
  assert.equal(f.header.commit, 2);
  assert.equal(f.header.nodeId, 0x1234n);
  assert.deepEqual(f.pages.map((p) => p.pgno), [1, 2]);
  assert.ok(Buffer.from(f.pages[1]!.data).equals(page(2)));
  assert.equal(f.trailer.postApplyChecksum, snapPost);
});

test('the encoder writes exactly the hand-made bytes', () => {
  const enc = encodeLtx(header({}), snapPages.map(([pgno, data]) => ({ pgno, data })), snapPost);
  assert.ok(enc.equals(snapshot));
});

test('database checksum: XOR of page checksums, flag bit set, empty database is the flag alone', () => {
  const expected = CHECKSUM_FLAG | ((pageChecksum(1, page(1)) ^ pageChecksum(2, page(2))) & ~CHECKSUM_FLAG);
  assert.equal(snapPost, expected);
  assert.equal(new DatabaseChecksum(PAGE).value, EMPTY_DATABASE_CHECKSUM);
  const s = new DatabaseChecksum(PAGE);
  s.setPage(1, page(1));
  s.setPage(2, page(2));
  s.setPageCount(2);
  s.setPage(2, page(9));
  s.setPage(2, page(2));
  assert.equal(s.value, snapPost, 'incremental updates are self-inverse');
  s.setPage(3, page(3));
  s.setPageCount(3);
  s.setPageCount(2);
  assert.equal(s.value, snapPost, 'truncation removes the pages past the commit');
});

test("page 1's change counter and version bytes (24-27, 92-99) do not change its checksum; other bytes do", () => {
  const a = page(1);
  const b = Buffer.from(a);
  for (const i of [24, 25, 26, 27, 92, 95, 96, 99]) b[i] = b[i]! ^ 0xff;
  assert.equal(pageChecksum(1, a), pageChecksum(1, b));
  const c = Buffer.from(a);
  c[28] = c[28]! ^ 1;
  assert.notEqual(pageChecksum(1, a), pageChecksum(1, c));
  assert.notEqual(pageChecksum(2, a), pageChecksum(2, b), 'only page 1 is masked');
});

test('a truncated file is rejected with an error naming what is missing', () => {
  const cases: Array<[number, RegExp]> = [
    [50, /truncated/],
    [100, /truncated/],
    [100 + 4 + 100, /truncated|cut short|checksum/],
    [snapshot.length - 1, /truncated|checksum|terminator/],
  ];
  for (const [len, re] of cases) {
    assert.throws(() => decodeLtx(snapshot.subarray(0, len)), (e: Error) => (e instanceof LtxFormatError || e instanceof ChecksumMismatchError) && re.test(e.message), `cut at ${len}`);
  }
});

test('a flipped bit anywhere is caught, and the error says which check failed', () => {
  const at = (off: number, re: RegExp, cls: typeof LtxFormatError | typeof ChecksumMismatchError) => {
    const b = Buffer.from(snapshot);
    b[off] = b[off]! ^ 0x10;
    assert.throws(() => decodeLtx(b), (e: Error) => e instanceof cls && re.test(e.message), `flip at ${off}: ${(() => { try { decodeLtx(b); return 'no error'; } catch (e) { return (e as Error).message; } })()}`);
  };
  at(0, /not an LTX file/, LtxFormatError);
  at(9, /page size/, LtxFormatError);
  at(100 + 4 + 10, /file checksum mismatch/, ChecksumMismatchError);
  at(100 + 4 + PAGE + 3, /out of order|missing page|beyond|checksum/, LtxFormatError);
  at(snapshot.length - 3, /file checksum mismatch/, ChecksumMismatchError);
  at(85, /reserved/, LtxFormatError);
});

test('structural rules: order, commit bound, snapshot completeness, checksum flags', () => {
  const post = dbSum(snapPages, 2);
  assert.throws(() => decodeLtx(handMade({ min: 2, max: 2, commit: 2, pre: post, pages: [snapPages[1]!, snapPages[0]!], post })), /page 1 is out of order/);
  assert.throws(() => decodeLtx(handMade({ min: 2, max: 2, commit: 2, pre: post, pages: [[3, page(3)]], post })), /beyond the commit size/);
  assert.throws(() => decodeLtx(handMade({ min: 1, max: 1, commit: 2, pre: 0n, pages: [snapPages[0]!], post })), /snapshot ends at page 1/);
  assert.throws(() => decodeLtx(handMade({ min: 1, max: 1, commit: 3, pre: 0n, pages: [snapPages[0]!, [3, page(3)]], post })), /missing page 2/);
  assert.throws(() => decodeLtx(handMade({ min: 2, max: 2, commit: 2, pre: 5n, pages: [snapPages[1]!], post })), /pre-apply checksum .* lacks the checksum flag/);
  assert.throws(() => decodeLtx(handMade({ min: 1, max: 1, commit: 2, pre: post, pages: snapPages, post })), /snapshot .* zero pre-apply/);
  assert.throws(() => decodeLtx(handMade({ min: 3, max: 2, commit: 2, pre: post, pages: [], post })), /min TXID 3 is after max TXID 2/);
  assert.throws(() => decodeLtx(handMade({ min: 1, max: 1, commit: 2, pre: 0n, pages: snapPages, post: post ^ 0x55n })), /snapshot pages hash to/);
  assert.throws(() => decodeLtx(handMade({ min: 1, max: 1, commit: 2, pre: 0n, pages: snapPages, post, flags: 0x4 })), /unknown header flags/);
  assert.throws(() => encodeLtx(header({ minTxid: 2, maxTxid: 2, preApplyChecksum: post }), [{ pgno: 2, data: page(2) }, { pgno: 2, data: page(2) }], post), /out of order/);
});

test('LZ4: the body is one frame, the file checksum covers uncompressed bytes, and it round-trips', () => {
  const pages = Array.from({ length: 20 }, (_, i) => ({ pgno: i + 1, data: Buffer.alloc(PAGE, i % 3) }));
  const s = new DatabaseChecksum(PAGE);
  for (const p of pages) s.setPage(p.pgno, p.data);
  s.setPageCount(20);
  const plain = encodeLtx(header({ commit: 20 }), pages, s.value);
  const packed = encodeLtx(header({ commit: 20, flags: FLAG_COMPRESS_LZ4 }), pages, s.value);
  assert.ok(packed.length < plain.length / 4, `compressed ${packed.length} vs ${plain.length}`);
  const f = decodeLtx(packed);
  assert.equal(f.pages.length, 20);
  assert.ok(Buffer.from(f.pages[7]!.data).equals(pages[7]!.data));
  const asIfPlain = Buffer.from(plain);
  asIfPlain.writeUInt32BE(FLAG_COMPRESS_LZ4, 4);
  assert.equal(f.trailer.fileChecksum, CHECKSUM_FLAG | crc64(asIfPlain.subarray(0, asIfPlain.length - 8)), 'the checksum is over the uncompressed bytes');
  const bad = Buffer.from(packed);
  bad[110] = bad[110]! ^ 0xff;
  assert.throws(() => decodeLtx(bad), (e: Error) => e instanceof LtxFormatError || e instanceof ChecksumMismatchError);
  // A block size that reaches past the file (lz4js would copy 2 GB for it) is refused before anything is decompressed.
  const huge = Buffer.from(packed);
  huge.writeUInt32LE(0xffffffff, HEADER_SIZE + 7);
  assert.throws(() => decodeLtx(huge), (e: Error) => e instanceof LtxFormatError && /do not end where the page block does/.test(e.message));
});

test('compaction merges contiguous files, newest page wins, and refuses gaps', () => {
  const s = new DatabaseChecksum(PAGE);
  s.setPage(1, page(1));
  s.setPage(2, page(2));
  s.setPageCount(2);
  const p1 = s.value;
  const f1 = encodeLtx(header({}), [{ pgno: 1, data: page(1) }, { pgno: 2, data: page(2) }], p1);
  s.setPage(2, page(20));
  s.setPage(3, page(3));
  s.setPageCount(3);
  const p2 = s.value;
  const f2 = encodeLtx(header({ minTxid: 2, maxTxid: 2, commit: 3, preApplyChecksum: p1 }), [{ pgno: 2, data: page(20) }, { pgno: 3, data: page(3) }], p2);
  s.setPageCount(2);
  const p3 = s.value;
  const f3 = encodeLtx(header({ minTxid: 3, maxTxid: 3, commit: 2, preApplyChecksum: p2 }), [], p3);
  const c = decodeLtx(compactLtx([f3, f1, f2]));
  assert.equal(c.header.minTxid, 1);
  assert.equal(c.header.maxTxid, 3);
  assert.equal(c.header.commit, 2);
  assert.deepEqual(c.pages.map((p) => p.pgno), [1, 2]);
  assert.ok(Buffer.from(c.pages[1]!.data).equals(page(20)));
  assert.equal(c.trailer.postApplyChecksum, p3);
  const tail = decodeLtx(compactLtx([f2, f3]));
  assert.equal(tail.header.preApplyChecksum, p1);
  assert.throws(() => compactLtx([f1, f3]), /not contiguous/);
});

test('positions and file names have their fixed textual forms', () => {
  const pos = { txid: 0x2a, checksum: 0x8000000000000abcn };
  assert.equal(formatPos(pos), '000000000000002a/8000000000000abc');
  assert.deepEqual(parsePos('000000000000002a/8000000000000abc\n'), pos);
  assert.throws(() => parsePos('2a/abc'), /malformed position/);
  assert.equal(ltxFilename(1, 255), '0000000000000001-00000000000000ff.ltx');
  assert.deepEqual(parseLtxFilename('0000000000000001-00000000000000ff.ltx'), { minTxid: 1, maxTxid: 255 });
  assert.equal(parseLtxFilename('0000000000000001-00000000000000ff.ltx.tmp'), undefined);
});

test('a checksum change can be rolled back exactly, or kept', () => {
  const page = (b: number) => new Uint8Array(512).fill(b);
  const sum = new DatabaseChecksum(512);
  for (let p = 1; p <= 10; p++) sum.setPage(p, page(p));
  sum.setPageCount(10);
  const before = sum.value;
  sum.begin();
  sum.setPage(3, page(99));
  sum.setPage(12, page(12));
  sum.setPageCount(12);
  const grown = sum.value;
  sum.rollback();
  assert.equal(sum.value, before);
  assert.equal(sum.pageCount, 10);
  sum.begin();
  sum.setPage(3, page(99));
  sum.setPage(12, page(12));
  sum.setPageCount(12);
  sum.commit();
  assert.equal(sum.value, grown);
  sum.begin();
  sum.setPageCount(4);
  sum.rollback();
  assert.equal(sum.value, grown, 'a truncation is undone too');
});

test('readLtxFile yields the same pages as decodeLtx, and a flipped bit fails at the end of the pages', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'litefleet-ltx-'));
  try {
    const pageSize = 512;
    const pages = Array.from({ length: 600 }, (_, i) => ({ pgno: i + 1, data: new Uint8Array(pageSize).fill(i % 251) }));
    const sum = new DatabaseChecksum(pageSize);
    for (const p of pages) sum.setPage(p.pgno, p.data);
    sum.setPageCount(600);
    const header: LtxHeader = { flags: 0, pageSize, commit: 600, minTxid: 1, maxTxid: 9, timestamp: 1, preApplyChecksum: 0n, walOffset: 0, walSize: 0, walSalt1: 0, walSalt2: 0, nodeId: 1n };
    const bytes = encodeLtx(header, pages, sum.value);
    const file = path.join(dir, 'snap.ltx');
    fs.writeFileSync(file, bytes);
    const src = readLtxFile(file);
    assert.deepEqual(src.header, decodeLtx(bytes).header);
    const seen = [...src.pages].map((p) => ({ pgno: p.pgno, data: new Uint8Array(p.data) }));
    assert.deepEqual(seen, pages);
    assert.equal(src.trailer.postApplyChecksum, sum.value);

    const bad = Buffer.from(bytes);
    bad.writeUInt8(bad.readUInt8(200_000) ^ 1, 200_000);
    fs.writeFileSync(file, bad);
    const broken = readLtxFile(file);
    assert.throws(() => {
      for (const p of broken.pages) void p;
    }, /file checksum mismatch/);
    fs.writeFileSync(file, bytes.subarray(0, 150_000));
    assert.throws(() => {
      for (const p of readLtxFile(file).pages) void p;
    }, /truncated|unexpected|ended early/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('encodeTransaction writes the bytes encodeLtx writes, hashing each page once for the file and the database checksum', () => {
  const header: LtxHeader = { flags: 0, pageSize: 512, commit: 9, minTxid: 7, maxTxid: 7, timestamp: 1_700_000_000_000, preApplyChecksum: CHECKSUM_FLAG | 5n, walOffset: 32, walSize: 1056, walSalt1: 1, walSalt2: 2, nodeId: 3n };
  const pages = [1, 2, 5, 9].map((pgno) => ({ pgno, data: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * pgno + 11) & 0xff)) }));
  const viaHashes = new DatabaseChecksum(512);
  const plain = new DatabaseChecksum(512);
  for (const p of pages) plain.setPage(p.pgno, p.data);
  plain.setPageCount(9);
  const bytes = encodeTransaction(header, pages, (p, hash) => viaHashes.setPage(p.pgno, p.data, hash), () => {
    viaHashes.setPageCount(9);
    return viaHashes.value;
  });
  assert.equal(viaHashes.value, plain.value, 'the frame hashes give the same database checksum');
  assert.deepEqual(bytes, encodeLtx(header, pages, plain.value));
  assert.throws(() => encodeTransaction(header, [...pages].reverse(), () => {}, () => plain.value), LtxFormatError);

  // Written into a larger buffer full of other bytes (capture's batch buffer): the same file, as a view of its start.
  const into = Buffer.alloc(bytes.length + 100, 0xa5);
  const inPlace = encodeTransaction(header, pages, () => {}, () => plain.value, into);
  assert.deepEqual(inPlace, bytes);
  assert.equal(inPlace.buffer, into.buffer);
  assert.equal(inPlace.byteOffset, into.byteOffset);
  assert.equal(into[bytes.length], 0xa5, 'nothing written past the file');
});
