import fs from 'node:fs';
import path from 'node:path';
import { LitefleetError } from '../errors.ts';
import { ltxFileLength } from '../ltx/file-length.ts';
import { HEADER_SIZE } from '../ltx/header.ts';
import { parseLtxFilename } from '../ltx/position.ts';
import { parseSegmentName } from './segment.ts';

/**
 * The LTX files of one segment file, as stored, walked from its start (no index needed: the
 * format is LTX files back to back); `torn` counts bytes at the end that are no whole file.
 */
export function readSegmentFile(file: string): { files: Buffer[]; torn: number } {
  const buf = fs.readFileSync(file);
  const files: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = ltxFileLength(buf, off);
    if (len === undefined) break;
    files.push(buf.subarray(off, off + len));
    off += len;
  }
  return { files, torn: buf.length - off };
}

/**
 * The ends of an LTX file on disk, without the pages between: its header and the last 16 bytes of
 * its trailer back to back (what headerFields reads), and the file's size.
 */
export function readLtxEnds(file: string): { ends: Buffer; size: number } {
  const fd = fs.openSync(file, 'r');
  let head: Buffer;
  let tail: Buffer;
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
    head = Buffer.alloc(HEADER_SIZE);
    tail = Buffer.alloc(16);
    fs.readSync(fd, head, 0, HEADER_SIZE, 0);
    fs.readSync(fd, tail, 0, 16, size - 16);
  } finally {
    fs.closeSync(fd);
  }
  return { ends: Buffer.concat([head, tail]), size };
}

/** The segment files of a log, oldest first: `dir` is a database's state folder or its `segments` folder. */
export function segmentFilesIn(dir: string): string[] {
  const segs = fs.existsSync(path.join(dir, 'segments')) ? path.join(dir, 'segments') : dir;
  return fs
    .readdirSync(segs)
    .map((name) => ({ name, first: parseSegmentName(name) }))
    .filter((s) => s.first !== undefined)
    .sort((a, b) => a.first! - b.first!)
    .map((s) => path.join(segs, s.name));
}

/** One LTX file found under a path: a plain `.ltx` file, or one of the files of a log segment. */
export interface FoundLtx {
  /** How to name it: the file name, or `<segment>#<n>`. */
  label: string;
  bytes: Buffer;
}

/**
 * The LTX files a path names, in TXID order: an `.ltx` file, a folder of them, a log segment
 * (`.seg`), or a log folder (`<data-dir>/dbs/<name>` or its `segments`). `torn` gets the bytes at
 * the end of a segment that are no whole file.
 */
export function ltxFilesAt(target: string, torn: (label: string, bytes: number) => void = () => {}): FoundLtx[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    throw new LitefleetError('ENOENT', `${target} does not exist`);
  }
  // A device or a pipe never ends (ltx verify /dev/zero read 5.5 GB in 15 s): only files have a size to read.
  if (!st.isDirectory() && !st.isFile()) throw new LitefleetError('EINVALID', `${target} is not a file or a folder: LTX files and logs are read from regular files`);
  const fromSegment = (file: string): FoundLtx[] => {
    const seg = readSegmentFile(file);
    if (seg.torn) torn(`${path.basename(file)}#${seg.files.length + 1}`, seg.torn);
    return seg.files.map((bytes, i) => ({ label: `${path.basename(file)}#${i + 1}`, bytes }));
  };
  if (!st.isDirectory()) return parseSegmentName(path.basename(target)) !== undefined ? fromSegment(target) : [{ label: path.basename(target), bytes: fs.readFileSync(target) }];
  const segments = segmentFilesIn(target);
  if (segments.length > 0) return segments.flatMap(fromSegment);
  return fs
    .readdirSync(target)
    .map((name) => ({ name, r: parseLtxFilename(name) }))
    .filter((f) => f.r)
    .sort((a, b) => a.r!.maxTxid - b.r!.maxTxid || b.r!.minTxid - a.r!.minTxid)
    .map((f) => ({ label: f.name, bytes: fs.readFileSync(path.join(target, f.name)) }));
}

