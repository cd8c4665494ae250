import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import { parseTerms, termAt } from '../log/terms.ts';
import { decodeLtx } from '../ltx/decoder.ts';
import { readLtxFile } from '../ltx/file-reader.ts';
import { ltxFileLength } from '../ltx/file-length.ts';
import { formatPos, parsePos, type Pos } from '../ltx/position.ts';
import type { DB } from '../store/db.ts';
import { validateDatabaseName } from '../store/names.ts';
import type { Store } from '../store/store.ts';
import type { PeerNode } from '../protocol/frames.ts';
import { TERMS_HEADER, type PositionsAnswer } from '../protocol/api-types.ts';

/** A history's freshness, Raft's way: the term of its newest transaction first, then its length. */
interface Tip {
  term: number;
  txid: number;
}

function newer(a: Tip, b: Tip): boolean {
  return a.term > b.term || (a.term === b.term && a.txid > b.txid);
}

const ASK_TIMEOUT_MS = 1_000;
const FETCH_TIMEOUT_MS = 30_000;
// Transactions fetched from a peer are applied in batches of about this many bytes.
const APPLY_BYTES = 4 * 1024 * 1024;

/**
 * Before a candidate takes a free lease: asks every node it knows of (see PeerBook) where its
 * databases stand, and takes from the one with the newest history (the highest term of its
 * newest transaction, then the longest) whatever it lacks: the transactions after its own
 * position, or — when its own history forked off into an older term's — that node's database,
 * setting its own transactions after the fork aside. So no transaction a reachable replica
 * applied from the last primary is lost by the election. Resolves 'lead' when this node now has
 * the newest history the reachable nodes have, 'wait' when a primary answered, a node (this one
 * or a peer) is still opening its databases, or a fetch failed (the next round tries again).
 */
export async function catchUpFromPeers(o: { store: Store; peers: PeerNode[]; token: string; logger: Logger }): Promise<'lead' | 'wait'> {
  // Positions are compared only once every database is open, here and on each peer: one still
  // waiting would look empty (taken from a peer with less, or passed over with more).
  if (o.store.starting > 0) return 'wait';
  const answers = (await Promise.all(o.peers.map((p) => askPositions(p, o.token)))).filter((a): a is PositionsAnswer & { url: string } => a !== undefined);
  if (answers.some((a) => a.role === 'primary' || (a.starting ?? 0) > 0)) return 'wait';
  const names = new Set(answers.flatMap((a) => Object.keys(a.databases)));
  for (const rawName of names) {
    let name: string;
    try {
      name = validateDatabaseName(rawName);
    } catch {
      continue;
    }
    const db = o.store.dbs.get(name);
    const mine: Pos = db?.pos ?? { txid: 0, checksum: 0n };
    let tip: Tip = { term: db?.log.termAt(mine.txid) ?? 0, txid: mine.txid };
    let best: { url: string; id: string; pos: Pos; terms: Array<[number, number]> } | undefined;
    for (const a of answers) {
      let pos: Pos;
      let terms: Array<[number, number]>;
      try {
        pos = parsePos(String(a.databases[rawName]));
        terms = parseTerms(a.terms?.[rawName] ?? []);
      } catch {
        continue;
      }
      const theirs = { term: termAt(terms, pos.txid), txid: pos.txid };
      if (newer(theirs, tip)) {
        best = { url: a.url, id: a.id, pos, terms };
        tip = theirs;
      }
    }
    if (!best) continue;
    let got: { pos: Pos; terms: Array<[number, number]> };
    try {
      got = await fetchFrom(o.store, name, mine, best);
    } catch (err) {
      o.logger.warn({ db: name, peer: best.id, err: (err as Error).message }, 'could not fetch the transactions a peer has; not taking the lease this round');
      return 'wait';
    }
    if (got.pos.txid === mine.txid && got.pos.checksum === mine.checksum) continue;
    o.store.applying(name).log.mergeTerms(got.terms);
    o.logger.info({ db: name, peer: best.id, from: mine.txid + 1, to: got.pos.txid }, `fetched TXID ${mine.txid + 1}-${got.pos.txid} of ${name} from node ${best.id} before taking the lease`);
  }
  return 'lead';

  /**
   * The peer's transactions after `from`; when its log no longer reaches back that far, this node
   * has nothing, or our histories forked (its being the newer), its database as a snapshot. With
   * the terms the peer sent along with them (those of its /positions answer if it sent none).
   */
  async function fetchFrom(store: Store, name: string, from: Pos, peer: { url: string; id: string; terms: Array<[number, number]> }): Promise<{ pos: Pos; terms: Array<[number, number]> }> {
    const base = `${peer.url.replace(/\/$/, '')}/db/${encodeURIComponent(name)}`;
    const get = (pathname: string) => fetch(`${base}${pathname}`, { headers: { authorization: `Bearer ${o.token}` }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    const sentTerms = (res: Response) => termsOf(res) ?? peer.terms;
    if (from.txid > 0) {
      const res = await get(`/ltx?after=${formatPos(from)}`);
      if (res.ok && res.body) return { pos: await applyFiles(store.applying(name), res.body as WebReadableStream<Uint8Array>, peer.url), terms: sentTerms(res) };
      const answer = res.status === 409 ? ((await res.json()) as { reason?: string; points?: string[] }) : undefined;
      if (answer?.reason === 'fork') {
        const points = (answer.points ?? []).flatMap((p) => {
          try {
            return [parsePos(p)];
          } catch {
            return [];
          }
        });
        // Its whole history is a part of ours (its terms record made it look newer): nothing to take.
        if (points[0] && store.applying(name).applier!.passedThrough(points[0])) return { pos: from, terms: peer.terms };
        // Our history forked off into an older term's: what this node has past the fork is set
        // aside (kept for the operator), and the peer's newer history replaces it.
        store.applying(name).applier!.diverged(points);
        o.logger.warn({ db: name, peer: peer.id }, `node ${peer.id} has a newer history of ${name}; taking its database`);
      } else if (answer?.reason === 'not-behind') {
        // It is exactly where this node is: nothing to take.
        return { pos: from, terms: peer.terms };
      } else if (answer?.reason !== 'gone') {
        throw new Error(`${peer.url} answered ${res.status}`);
      }
    }
    store.applying(name).applier!.takeTerms(peer.terms);
    const res = await fetchSnapshot(store.applying(name), peer.url, get);
    return { pos: store.applying(name).applier!.pos, terms: sentTerms(res) };
  }
}

/** The terms a peer sent with transactions or a snapshot (TERMS_HEADER); undefined when it sent none or they do not parse. */
function termsOf(res: Response): Array<[number, number]> | undefined {
  const header = res.headers.get(TERMS_HEADER);
  if (header === null) return undefined;
  try {
    return parseTerms(JSON.parse(header));
  } catch {
    return undefined;
  }
}

async function askPositions(peer: PeerNode, token: string): Promise<(PositionsAnswer & { url: string }) | undefined> {
  try {
    const res = await fetch(`${peer.url.replace(/\/$/, '')}/positions`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
    if (!res.ok) return undefined;
    const a = (await res.json()) as PositionsAnswer;
    if (typeof a?.id !== 'string' || (a.role !== 'primary' && a.role !== 'replica') || typeof a.databases !== 'object' || a.databases === null) return undefined;
    return { ...a, url: peer.url };
  } catch {
    // down, frozen or unreachable: it cannot be waited for
    return undefined;
  }
}

/**
 * Applies LTX files sent back to back as they arrive, a few MB at a time: the range a peer sends
 * can be far larger than this node's memory. The batches applied stay applied if the body is cut
 * short (the next round continues from there).
 */
async function applyFiles(db: DB, body: WebReadableStream<Uint8Array>, url: string): Promise<Pos> {
  let chunks: Buffer[] = [];
  let size = 0;
  // Bytes to gather before looking for whole files again: twice what was left over, so a file
  // larger than a chunk is not copied into ever longer buffers at every chunk.
  let wanted = 0;
  let batch: Array<{ file: ReturnType<typeof decodeLtx>; bytes: Buffer }> = [];
  let batchBytes = 0;
  const split = () => {
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    let off = 0;
    for (let len = ltxFileLength(buf, off); len !== undefined; len = ltxFileLength(buf, off)) {
      const bytes = buf.subarray(off, off + len);
      batch.push({ file: decodeLtx(bytes), bytes });
      batchBytes += len;
      off += len;
    }
    chunks = off < buf.length ? [buf.subarray(off)] : [];
    size = buf.length - off;
    wanted = 2 * size;
  };
  const apply = () => {
    if (batch.length) db.applier!.apply(batch);
    batch = [];
    batchBytes = 0;
  };
  for await (const chunk of Readable.fromWeb(body) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size < wanted) continue;
    split();
    if (batchBytes >= APPLY_BYTES) apply();
  }
  if (size > 0) split();
  apply();
  if (size > 0) throw new Error(`${url} sent a torn LTX file (${size} bytes at its end)`);
  return db.applier!.pos;
}

/** Fetches the peer's database as a snapshot LTX (spooled: it is as large as the database) and applies it; returns the response, for its headers. */
async function fetchSnapshot(db: DB, url: string, get: (pathname: string) => Promise<Response>): Promise<Response> {
  const res = await get('/snapshot');
  if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status} for a snapshot`);
  const spool = path.join(db.log.segmentsDir, `peer-snapshot-${process.pid}.ltx.tmp`);
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream), fs.createWriteStream(spool));
    db.applier!.applySnapshot(readLtxFile(spool));
  } finally {
    fs.rmSync(spool, { force: true });
  }
  return res;
}
