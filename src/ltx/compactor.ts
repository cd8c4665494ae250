import { LtxFormatError } from '../errors.ts';
import { decodeLtx, type LtxFile } from './decoder.ts';
import { encodeLtx, type LtxPage } from './encoder.ts';
import { FLAG_COMPRESS_LZ4, type LtxHeader } from './header.ts';

/**
 * Merges contiguous LTX files into one covering their whole TXID range: for each page the newest
 * image wins, pages past the final commit size are dropped. Every input is fully verified first.
 * Compacting a snapshot with the files after it yields a newer snapshot.
 */
export function compactLtx(inputs: Uint8Array[], options: { compress?: boolean } = {}): Buffer {
  const merged = mergeLtxFiles(inputs.map((b) => decodeLtx(b)));
  const header = { ...merged.header, flags: options.compress ? FLAG_COMPRESS_LZ4 : 0 };
  return encodeLtx(header, merged.pages, merged.trailer.postApplyChecksum);
}

/**
 * The decoded form of compactLtx, for files already verified (a replica coalescing what it
 * received): the same checks of contiguity and checksum chain, and a file checksum of 0.
 */
export function mergeLtxFiles(input: LtxFile[]): LtxFile {
  if (input.length === 0) throw new LtxFormatError('nothing to compact');
  const files = [...input].sort((a, b) => a.header.minTxid - b.header.minTxid);
  const first = files[0]!;
  const last = files[files.length - 1]!;
  for (let i = 1; i < files.length; i++) {
    const prev = files[i - 1]!;
    const cur = files[i]!;
    if (cur.header.pageSize !== first.header.pageSize) {
      throw new LtxFormatError(`page size ${cur.header.pageSize} of TXID ${cur.header.minTxid} differs from ${first.header.pageSize}`);
    }
    if (cur.header.minTxid !== prev.header.maxTxid + 1) {
      throw new LtxFormatError(`TXIDs are not contiguous: ${prev.header.maxTxid} is followed by ${cur.header.minTxid}`);
    }
    if (cur.header.preApplyChecksum !== prev.trailer.postApplyChecksum) {
      throw new LtxFormatError(`TXID ${cur.header.minTxid} does not continue the checksum of TXID ${prev.header.maxTxid}`);
    }
  }
  if (files.length === 1) return first;
  const merged = new Map<number, LtxPage>();
  for (const f of files) for (const p of f.pages) merged.set(p.pgno, p);
  const commit = last.header.commit;
  const pages = [...merged.values()].filter((p) => p.pgno <= commit).sort((a, b) => a.pgno - b.pgno);
  const header: LtxHeader = {
    flags: 0,
    pageSize: first.header.pageSize,
    commit,
    minTxid: first.header.minTxid,
    maxTxid: last.header.maxTxid,
    timestamp: last.header.timestamp,
    preApplyChecksum: first.header.preApplyChecksum,
    walOffset: 0,
    walSize: 0,
    walSalt1: 0,
    walSalt2: 0,
    nodeId: 0n,
  };
  return { header, pages, trailer: { postApplyChecksum: last.trailer.postApplyChecksum, fileChecksum: 0n } };
}
