import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { readWalIndex } from '../../src/wal/wal-index.ts';
import { parseWalHeader, WalReader, type WalPollResult } from '../../src/wal/wal-reader.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';

// Every WAL here is built byte by byte from SQLite's format (wal.c's header comment): the checksum
// is written out again below rather than imported, so a mistake in the reader's cannot hide behind
// the same mistake in the fixture. The first test holds this checksum to a WAL SQLite wrote.

const PAGE = 512;
const HEADER = 32;
const FRAME = 24 + PAGE;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;
const VERSION = 3007000;

const dir = makeTempDir('litefleet-wal-');
let files = 0;

/** SQLite's walChecksumBytes: pairs of 32-bit words, in the byte order the magic names, summed into s0/s1. */
function sqliteChecksum(data: Buffer, bigEndian: boolean, [s0, s1]: [number, number]): [number, number] {
  for (let i = 0; i < data.length; i += 8) {
    const x = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const y = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x + s1) >>> 0;
    s1 = (s1 + y + s0) >>> 0;
  }
  return [s0, s1];
}

/** A page whose every byte depends on `seed`, so two pages never compare equal by accident. */
function page(seed: number, size = PAGE): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seed * 31 + i * 7 + (i >> 8)) & 0xff;
  return b;
}

interface Generation {
  salt1: number;
  salt2: number;
  checkpointSeq?: number;
  bigEndian?: boolean;
  magic?: number;
  version?: number;
  pageSize?: number;
}

/** One WAL generation: its header, then frames that carry its salts and continue its checksum chain. */
class HandWal {
  readonly header: Buffer;
  readonly frames: Buffer[] = [];
  readonly bigEndian: boolean;
  #sum: [number, number];

  constructor(readonly gen: Generation) {
    this.bigEndian = gen.bigEndian ?? false;
    const h = Buffer.alloc(HEADER);
    h.writeUInt32BE(gen.magic ?? (this.bigEndian ? MAGIC_BE : MAGIC_LE), 0);
    h.writeUInt32BE(gen.version ?? VERSION, 4);
    h.writeUInt32BE(gen.pageSize ?? PAGE, 8);
    h.writeUInt32BE(gen.checkpointSeq ?? 0, 12);
    h.writeUInt32BE(gen.salt1, 16);
    h.writeUInt32BE(gen.salt2, 20);
    this.#sum = sqliteChecksum(h.subarray(0, 24), this.bigEndian, [0, 0]);
    h.writeUInt32BE(this.#sum[0], 24);
    h.writeUInt32BE(this.#sum[1], 28);
    this.header = h;
  }

  /** Appends one frame; `commit` is the database's size in pages on a commit frame, 0 otherwise. */
  frame(pgno: number, data: Buffer, commit = 0): this {
    const f = Buffer.alloc(24 + data.length);
    f.writeUInt32BE(pgno, 0);
    f.writeUInt32BE(commit, 4);
    f.writeUInt32BE(this.gen.salt1, 8);
    f.writeUInt32BE(this.gen.salt2, 12);
    data.copy(f, 24);
    this.#sum = sqliteChecksum(f.subarray(0, 8), this.bigEndian, this.#sum);
    this.#sum = sqliteChecksum(f.subarray(24), this.bigEndian, this.#sum);
    f.writeUInt32BE(this.#sum[0], 16);
    f.writeUInt32BE(this.#sum[1], 20);
    this.frames.push(f);
    return this;
  }

  /** Appends a transaction: a frame per page, the last one its commit frame. */
  tx(commit: number, ...pages: Array<[number, Buffer]>): this {
    pages.forEach(([pgno, data], i) => this.frame(pgno, data, i === pages.length - 1 ? commit : 0));
    return this;
  }

  /** The header and every frame, as the file holds them. */
  bytes(): Buffer {
    return Buffer.concat([this.header, ...this.frames]);
  }
}

/** A fresh -wal file holding `bytes`, and a reader on it. */
function walFile(bytes: Buffer): { file: string; reader: WalReader } {
  const file = path.join(dir, `${++files}.db-wal`);
  fs.writeFileSync(file, bytes);
  return { file, reader: new WalReader(file) };
}

/** Overwrites `bytes` at `offset` without truncating, as SQLite rewrites a WAL it restarts. */
function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, offset);
  fs.closeSync(fd);
}

/** Flips the low bit of the byte at `at`. */
function flip(b: Buffer, at: number): void {
  b[at]! ^= 0x01;
}

/** What a fresh reader finds in `bytes` at its first poll. */
function firstPoll(bytes: Buffer): WalPollResult {
  const { reader } = walFile(bytes);
  const res = reader.poll();
  reader.close();
  return res;
}

/** The checksum a frame stores: where the chain stands after it. */
const chainAfter = (frame: Buffer): { s0: number; s1: number } => ({ s0: frame.readUInt32BE(16), s1: frame.readUInt32BE(20) });

/** What a poll found, with pages as plain Buffers so they compare by content. */
function summary(res: WalPollResult): Array<{ commit: number; offset: number; size: number; salts: [number, number]; pages: Array<[number, Buffer]> }> {
  return res.transactions.map((t) => ({
    commit: t.commit,
    offset: t.offset,
    size: t.size,
    salts: [t.salt1, t.salt2],
    pages: [...t.pages].map(([pgno, d]) => [pgno, Buffer.from(d.buffer, d.byteOffset, d.length)]),
  }));
}

/** The commit sizes of the transactions a poll found. */
const commits = (res: WalPollResult): number[] => res.transactions.map((t) => t.commit);

/** Three transactions: two pages; page 2 twice (the later image counts) and page 3; page 1 alone. */
function threeTransactions(gen: Generation): HandWal {
  return new HandWal(gen)
    .tx(2, [1, page(1)], [2, page(2)])
    .tx(3, [2, page(20)], [3, page(3)], [2, page(21)])
    .tx(3, [1, page(10)]);
}

test("the fixture's checksum is SQLite's: it verifies the header and every frame of a WAL SQLite wrote", () => {
  const file = path.join(dir, 'real.db');
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t(v BLOB)');
    for (let i = 0; i < 5; i++) db.prepare('INSERT INTO t VALUES (?)').run(page(i, 3000));
    const wal = fs.readFileSync(`${file}-wal`);
    const magic = wal.readUInt32BE(0);
    assert.ok(magic === MAGIC_LE || magic === MAGIC_BE, `magic ${magic.toString(16)}`);
    const bigEndian = magic === MAGIC_BE;
    assert.equal(wal.readUInt32BE(4), VERSION);
    const pageSize = wal.readUInt32BE(8);
    let sum = sqliteChecksum(wal.subarray(0, 24), bigEndian, [0, 0]);
    assert.deepEqual(sum, [wal.readUInt32BE(24), wal.readUInt32BE(28)], 'header checksum');
    const walked: number[] = [];
    for (let off = HEADER; off + 24 + pageSize <= wal.length; off += 24 + pageSize) {
      assert.deepEqual([wal.readUInt32BE(off + 8), wal.readUInt32BE(off + 12)], [wal.readUInt32BE(16), wal.readUInt32BE(20)], `salts of the frame at ${off}`);
      sum = sqliteChecksum(wal.subarray(off, off + 8), bigEndian, sum);
      sum = sqliteChecksum(wal.subarray(off + 24, off + 24 + pageSize), bigEndian, sum);
      assert.deepEqual(sum, [wal.readUInt32BE(off + 16), wal.readUInt32BE(off + 20)], `checksum of the frame at ${off}`);
      if (wal.readUInt32BE(off + 4) !== 0) walked.push(wal.readUInt32BE(off + 4));
    }
    assert.equal(walked.length, 6, 'CREATE TABLE and five INSERTs');
    const reader = new WalReader(`${file}-wal`);
    assert.deepEqual(commits(reader.poll()), walked, 'the reader finds the commits the fixture checksum walked');
    reader.close();
  } finally {
    db.close();
  }
});

test('a valid WAL is read as its transactions: the last image of each page, commit size, offset and span', () => {
  const wal = threeTransactions({ salt1: 0x11111111, salt2: 0xdeadbeef });
  const { reader } = walFile(wal.bytes());
  assert.equal(reader.cursor, undefined, 'no position before the first poll');
  const res = reader.poll();
  assert.deepEqual({ restarted: res.restarted, gap: res.gap, more: res.more }, { restarted: 0, gap: false, more: false });
  const salts: [number, number] = [0x11111111, 0xdeadbeef];
  assert.deepEqual(summary(res), [
    { commit: 2, offset: HEADER, size: 2 * FRAME, salts, pages: [[1, page(1)], [2, page(2)]] },
    { commit: 3, offset: HEADER + 2 * FRAME, size: 3 * FRAME, salts, pages: [[2, page(21)], [3, page(3)]] },
    { commit: 3, offset: HEADER + 5 * FRAME, size: FRAME, salts, pages: [[1, page(10)]] },
  ]);
  assert.equal(reader.pageSize, PAGE);
  assert.equal(reader.framesBytes, 6 * FRAME);
  assert.deepEqual(reader.cursor, { salt1: salts[0], salt2: salts[1], checkpointSeq: 0, offset: HEADER + 6 * FRAME, ...chainAfter(wal.frames[5]!) }, 'just past the last commit, with its checksum');
  assert.deepEqual(reader.poll().transactions, [], 'nothing is returned twice');
  reader.close();
});

test('frames appended after a poll are read by the next one, from where it stopped', () => {
  const wal = threeTransactions({ salt1: 7, salt2: 8 });
  const { file, reader } = walFile(Buffer.concat([wal.header, ...wal.frames.slice(0, 2)]));
  assert.deepEqual(commits(reader.poll()), [2]);
  fs.appendFileSync(file, Buffer.concat(wal.frames.slice(2)));
  const res = reader.poll();
  assert.deepEqual(
    summary(res).map((t) => t.offset),
    [HEADER + 2 * FRAME, HEADER + 5 * FRAME],
  );
  assert.deepEqual(commits(res), [3, 3]);
  reader.close();
});

test('big-endian checksums (magic 0x377f0683) are read the same; the byte order really is the magic\'s', () => {
  const le = threeTransactions({ salt1: 5, salt2: 6 });
  const be = threeTransactions({ salt1: 5, salt2: 6, bigEndian: true });
  assert.notDeepEqual(be.header.subarray(24), le.header.subarray(24), 'the two orders give different checksums');
  const { reader } = walFile(be.bytes());
  assert.deepEqual(summary(reader.poll()), summary(firstPoll(le.bytes())));
  assert.equal(parseWalHeader(be.header)?.bigEndianChecksum, true);
  // A little-endian WAL whose header alone is rewritten big-endian: the frames' chain no longer holds.
  assert.deepEqual(firstPoll(Buffer.concat([be.header, ...le.frames])).transactions, []);
  reader.close();
});

test('the header gives page size, checkpoint sequence, salts and the checksum the chain starts from', () => {
  const wal = new HandWal({ salt1: 0xfedcba98, salt2: 0x01234567, checkpointSeq: 9, pageSize: 65536 });
  const sum = sqliteChecksum(wal.header.subarray(0, 24), false, [0, 0]);
  assert.deepEqual(parseWalHeader(wal.header), { pageSize: 65536, checkpointSeq: 9, salt1: 0xfedcba98, salt2: 0x01234567, bigEndianChecksum: false, s0: sum[0], s1: sum[1] });
  const { reader } = walFile(wal.bytes());
  assert.deepEqual(reader.poll(), { transactions: [], restarted: 0, gap: false, more: false }, 'a header without frames has no transactions');
  assert.equal(reader.cursor?.offset, HEADER);
  assert.equal(reader.pageSize, 65536);
  reader.close();
});

test('a header SQLite would not read is no WAL: bad magic, another version, a bad page size, a failed checksum, too short', () => {
  const frames = (g: Generation) => new HandWal(g).tx(1, [1, page(1, g.pageSize ?? PAGE)]).bytes();
  const good = frames({ salt1: 1, salt2: 2 });
  const flipped = (at: number) => {
    const b = Buffer.from(good);
    flip(b, at);
    return b;
  };
  const refused: Record<string, Buffer> = {
    // Each of these carries a checksum that matches its other fields: only the field itself is wrong.
    'magic 0x377f0684': frames({ salt1: 1, salt2: 2, magic: 0x377f0684 }),
    'version 3007001': frames({ salt1: 1, salt2: 2, version: 3007001 }),
    'version 0': frames({ salt1: 1, salt2: 2, version: 0 }),
    'page size 256': frames({ salt1: 1, salt2: 2, pageSize: 256 }),
    'page size 1000': frames({ salt1: 1, salt2: 2, pageSize: 1000 }),
    'page size 131072': frames({ salt1: 1, salt2: 2, pageSize: 131072 }),
    // These change a field after the checksum was taken, as a torn or corrupt header would.
    'a salt changed': flipped(19),
    'checksum word 1': flipped(27),
    'checksum word 2': flipped(31),
    '31 bytes': good.subarray(0, 31),
    'no bytes': Buffer.alloc(0),
  };
  assert.ok(parseWalHeader(good));
  for (const [what, bytes] of Object.entries(refused)) {
    assert.equal(parseWalHeader(bytes), undefined, what);
    const { reader } = walFile(bytes);
    assert.deepEqual(reader.poll(), { transactions: [], restarted: 0, gap: false, more: false }, what);
    assert.equal(reader.cursor, undefined, `${what}: no position taken`);
    reader.close();
  }
  const missing = new WalReader(path.join(dir, 'no-such.db-wal'));
  assert.equal(missing.readHeader(), undefined);
  assert.deepEqual(missing.poll().transactions, []);
});

test('frames with another generation\'s salts are not returned: a restarted WAL still holds the old frames past the new ones', () => {
  const old = threeTransactions({ salt1: 100, salt2: 0xaaaa });
  const fresh = new HandWal({ salt1: 101, salt2: 0xbbbb, checkpointSeq: 1 }).tx(3, [3, page(30)]);
  // SQLite restarts a WAL by writing from the start again, leaving the old generation's tail in place.
  const bytes = Buffer.concat([fresh.header, fresh.frames[0]!, ...old.frames.slice(1)]);
  const { reader } = walFile(bytes);
  assert.deepEqual(summary(reader.poll()), [{ commit: 3, offset: HEADER, size: FRAME, salts: [101, 0xbbbb], pages: [[3, page(30)]] }]);
  // Stale frames carry salts of their own generation; one frame with the new salts but the old chain is refused too.
  const forged = new HandWal({ salt1: 101, salt2: 0xbbbb, checkpointSeq: 7 }).tx(2, [1, page(1)]);
  assert.deepEqual(firstPoll(Buffer.concat([fresh.header, ...forged.frames])).transactions, [], 'a frame whose checksum chain starts from another header');
  reader.close();
});

test('a broken checksum chain stops reading at the last good commit, and the frames after it are not returned', () => {
  const wal = threeTransactions({ salt1: 3, salt2: 4 });
  const afterFirst = summary(firstPoll(wal.bytes())).slice(1);
  // Frame 3 is the first of the second transaction; frame 4 its middle one.
  const breaks: Record<string, (b: Buffer) => void> = {
    'a byte of page data': (b) => flip(b, HEADER + 2 * FRAME + 24 + 100),
    'the last byte of page data': (b) => flip(b, HEADER + 3 * FRAME - 1),
    'the page number': (b) => b.writeUInt32BE(9, HEADER + 2 * FRAME),
    'page number 0': (b) => b.writeUInt32BE(0, HEADER + 2 * FRAME),
    'the commit field of a middle frame': (b) => b.writeUInt32BE(3, HEADER + 3 * FRAME + 4),
    'the stored checksum': (b) => flip(b, HEADER + 3 * FRAME + 23),
    'a salt of one frame': (b) => b.writeUInt32BE(5, HEADER + 3 * FRAME + 12),
  };
  for (const [what, corrupt] of Object.entries(breaks)) {
    const bytes = wal.bytes();
    corrupt(bytes);
    const { file, reader } = walFile(bytes);
    const res = reader.poll();
    assert.deepEqual(commits(res), [2], what);
    assert.equal(reader.cursor?.offset, HEADER + 2 * FRAME, `${what}: the cursor stays after the first commit`);
    // What was seen broken was a frame still being written: once whole, it and what follows are read.
    fs.writeFileSync(file, wal.bytes());
    assert.deepEqual(summary(reader.poll()), afterFirst, `${what}, repaired`);
    reader.close();
  }
});

test('a file cut mid-frame yields the whole transactions before it, and the rest once it is written', () => {
  const wal = threeTransactions({ salt1: 21, salt2: 22 });
  const whole = wal.bytes();
  // Cut inside the second transaction's commit frame: in its header, in its page, one byte short.
  for (const cut of [HEADER + 4 * FRAME + 10, HEADER + 4 * FRAME + 24 + 200, HEADER + 5 * FRAME - 1]) {
    const { file, reader } = walFile(whole.subarray(0, cut));
    assert.deepEqual(commits(reader.poll()), [2], `cut at ${cut}`);
    fs.appendFileSync(file, whole.subarray(cut));
    assert.deepEqual(commits(reader.poll()), [3, 3], `cut at ${cut}, completed`);
    reader.close();
  }
});

test('a transaction without its commit frame is not returned until the commit frame is written', () => {
  const wal = new HandWal({ salt1: 31, salt2: 32 })
    .tx(1, [1, page(1)])
    .frame(2, page(2))
    .frame(3, page(3));
  const { file, reader } = walFile(wal.bytes());
  assert.deepEqual(commits(reader.poll()), [1]);
  assert.deepEqual(reader.poll().transactions, [], 'still open');
  wal.frame(2, page(22), 4);
  fs.appendFileSync(file, wal.frames[3]!);
  assert.deepEqual(summary(reader.poll()), [{ commit: 4, offset: HEADER + FRAME, size: 3 * FRAME, salts: [31, 32], pages: [[2, page(22)], [3, page(3)]] }]);
  reader.close();
});

test('a rolled-back transaction is never returned: the next one overwrites its frames, and what is left of it breaks the chain', () => {
  const committed = new HandWal({ salt1: 41, salt2: 42 }).tx(1, [1, page(1)]);
  const rolledBack = new HandWal({ salt1: 41, salt2: 42 }).tx(1, [1, page(1)]).frame(2, page(2)).frame(3, page(3));
  const { file, reader } = walFile(rolledBack.bytes());
  assert.deepEqual(commits(reader.poll()), [1]);
  // SQLite forgets the rolled-back frames and writes the next transaction where they began.
  committed.tx(4, [4, page(4)]);
  overwrite(file, HEADER + FRAME, committed.frames[1]!);
  assert.deepEqual(summary(reader.poll()), [{ commit: 4, offset: HEADER + FRAME, size: FRAME, salts: [41, 42], pages: [[4, page(4)]] }]);
  assert.deepEqual(reader.poll().transactions, [], 'the leftover third frame is not read');
  reader.close();
});

test('a WAL restart (salt1 + 1, a new salt2) is followed from the new header', () => {
  const gen1 = threeTransactions({ salt1: 0x5000, salt2: 0x1234, checkpointSeq: 4 });
  const { file, reader } = walFile(gen1.bytes());
  assert.deepEqual(commits(reader.poll()), [2, 3, 3]);
  // The restart's first transaction is written over the old header and first frame; the rest of gen1 stays.
  const gen2 = new HandWal({ salt1: 0x5001, salt2: 0x9876, checkpointSeq: 5 }).tx(3, [2, page(50)]);
  overwrite(file, 0, gen2.bytes());
  let res = reader.poll();
  assert.deepEqual({ restarted: res.restarted, gap: res.gap }, { restarted: 1, gap: false });
  assert.deepEqual(summary(res), [{ commit: 3, offset: HEADER, size: FRAME, salts: [0x5001, 0x9876], pages: [[2, page(50)]] }]);
  assert.deepEqual(reader.cursor, { salt1: 0x5001, salt2: 0x9876, checkpointSeq: 5, offset: HEADER + FRAME, ...chainAfter(gen2.frames[0]!) });
  assert.equal(reader.framesBytes, FRAME, 'the WAL is as full as the new generation');
  gen2.tx(4, [4, page(51)]);
  overwrite(file, HEADER + FRAME, gen2.frames[1]!);
  res = reader.poll();
  assert.deepEqual({ restarted: res.restarted, commits: commits(res) }, { restarted: 0, commits: [4] }, 'and read on in it');
  reader.close();
});

test('a restart counts by salt1 alone: it wraps at 2^32, the checkpoint sequence may go down; any other jump is a gap', () => {
  const restartTo = (from: Generation, to: Generation): { restarted: number; gap: boolean } => {
    const { file, reader } = walFile(new HandWal(from).tx(1, [1, page(1)]).bytes());
    reader.poll();
    overwrite(file, 0, new HandWal(to).tx(1, [1, page(2)]).bytes());
    const { restarted, gap } = reader.poll();
    reader.close();
    return { restarted, gap };
  };
  assert.deepEqual(restartTo({ salt1: 0xffffffff, salt2: 1 }, { salt1: 0, salt2: 2 }), { restarted: 1, gap: false });
  assert.deepEqual(restartTo({ salt1: 10, salt2: 1, checkpointSeq: 8 }, { salt1: 11, salt2: 2, checkpointSeq: 1 }), { restarted: 1, gap: false });
  assert.deepEqual(restartTo({ salt1: 10, salt2: 1 }, { salt1: 12, salt2: 2 }), { restarted: 0, gap: true });
  assert.deepEqual(restartTo({ salt1: 10, salt2: 1 }, { salt1: 10, salt2: 2 }), { restarted: 0, gap: true }, 'salt2 alone changed');
});

test('a saved cursor resumes another reader where the first stopped; no cursor reads from the start', () => {
  const wal = threeTransactions({ salt1: 61, salt2: 62 });
  const { file, reader } = walFile(Buffer.concat([wal.header, ...wal.frames.slice(0, 5)]));
  assert.deepEqual(commits(reader.poll()), [2, 3]);
  const saved = reader.cursor;
  reader.close();
  fs.appendFileSync(file, wal.frames[5]!);
  const next = new WalReader(file);
  next.seek(saved);
  const res = next.poll();
  assert.deepEqual({ restarted: res.restarted, gap: res.gap, offsets: summary(res).map((t) => t.offset) }, { restarted: 0, gap: false, offsets: [HEADER + 5 * FRAME] });
  next.seek(undefined);
  assert.deepEqual(commits(next.poll()), [2, 3, 3]);
  next.close();
});

test('a byte budget takes a backlog in slices, each ending after the first whole transaction past it', () => {
  const wal = new HandWal({ salt1: 71, salt2: 72 });
  for (let i = 1; i <= 5; i++) wal.tx(i, [i, page(i)]);
  wal.tx(6, [6, page(6)], [7, page(7)], [8, page(8)]);
  const { reader } = walFile(wal.bytes());
  const slices: Array<{ commits: number[]; more: boolean }> = [];
  for (let more = true; more; ) {
    const res = reader.poll(2 * FRAME);
    slices.push({ commits: commits(res), more: res.more });
    more = res.more;
  }
  assert.deepEqual(slices, [
    { commits: [1, 2], more: true },
    { commits: [3, 4], more: true },
    { commits: [5, 6], more: false },
  ]);
});

test('a WAL larger than one read is read whole, both as many small transactions and as one large one', () => {
  const pageSize = 4096;
  const many = new HandWal({ salt1: 81, salt2: 82, pageSize });
  for (let i = 1; i <= 300; i++) many.tx(i, [i, page(i, pageSize)]);
  const res = firstPoll(many.bytes());
  assert.deepEqual(commits(res), Array.from({ length: 300 }, (_, i) => i + 1));
  assert.ok(summary(res).every((t, i) => t.pages[0]![1].equals(page(i + 1, pageSize))));
  const one = new HandWal({ salt1: 83, salt2: 84, pageSize }).tx(300, ...Array.from({ length: 300 }, (_, i): [number, Buffer] => [i + 1, page(i + 1, pageSize)]));
  const [tx, ...rest] = summary(firstPoll(one.bytes()));
  assert.ok(tx && rest.length === 0, 'one transaction');
  assert.equal(tx.size, 300 * (24 + pageSize));
  assert.ok(tx.pages.every(([pgno, data], i) => pgno === i + 1 && data.equals(page(i + 1, pageSize))));
});

test('the WAL index gives the last committed frame, where its checksum chain ends, its generation\'s salts and the frames checkpointed, from the -shm SQLite keeps', () => {
  const shm = (init: number, mxFrame: number, backfill: number): Buffer => {
    const b = Buffer.alloc(136);
    b[12] = init;
    b.writeUInt32LE(mxFrame, 16);
    b.writeUInt32LE(0xa1b2c3d4, 24);
    b.writeUInt32LE(0x05060708, 28);
    b.writeUInt32BE(0x11223344, 32);
    b.writeUInt32BE(0x55667788, 36);
    b.writeUInt32LE(backfill, 96);
    return b;
  };
  const ids = { s0: 0xa1b2c3d4, s1: 0x05060708, salt1: 0x11223344, salt2: 0x55667788 };
  const indexOf = (bytes: Buffer) => {
    const file = path.join(dir, `${++files}.db-shm`);
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      return readWalIndex(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  assert.deepEqual(indexOf(shm(1, 0x01020304, 17)), { mxFrame: 0x01020304, backfill: 17, ...ids });
  assert.equal(indexOf(shm(0, 5, 5)), undefined, 'not initialised');
  assert.equal(indexOf(shm(1, 5, 5).subarray(0, 99)), undefined, 'shorter than the headers');

  const file = path.join(dir, 'indexed.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t(v)');
  db.prepare('INSERT INTO t VALUES (?)').run('x');
  const fd = fs.openSync(`${file}-shm`, 'r');
  try {
    const wal = fs.readFileSync(`${file}-wal`);
    const frameSize = 24 + wal.readUInt32BE(8);
    const frames = (wal.length - HEADER) / frameSize;
    // The salts as the WAL header has them, and the chain as the last frame's header ends it.
    const last = HEADER + (frames - 1) * frameSize;
    const chain = { s0: wal.readUInt32BE(last + 16), s1: wal.readUInt32BE(last + 20), salt1: wal.readUInt32BE(16), salt2: wal.readUInt32BE(20) };
    assert.deepEqual(readWalIndex(fd), { mxFrame: frames, backfill: 0, ...chain }, 'as SQLite left it');
    db.pragma('wal_checkpoint(PASSIVE)');
    assert.deepEqual(readWalIndex(fd), { mxFrame: frames, backfill: frames, ...chain }, 'after a checkpoint');
  } finally {
    // Closed after SQLite is done: closing any fd of the -shm drops this process's locks on it.
    db.close();
    fs.closeSync(fd);
  }
});
