import fs from 'node:fs';
import path from 'node:path';
import { decodeLtx, type LtxFile } from '../ltx/decoder.ts';
import { readLtxFile, type LtxSource } from '../ltx/file-reader.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, type LtxHeader } from '../ltx/header.ts';

/** The header of a spooled file (a short or malformed one throws). */
function spooledHeader(file: string): LtxHeader {
  const head = Buffer.alloc(HEADER_SIZE);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, HEADER_SIZE, 0);
  } finally {
    fs.closeSync(fd);
  }
  return decodeHeader(head);
}

/** A spooled file: read page by page if uncompressed, whole if compressed (capture's `ltx.compress`). */
export function readSpooled(file: string): LtxSource {
  return spooledHeader(file).flags & FLAG_COMPRESS_LZ4 ? decodeLtx(fs.readFileSync(file), { snapshotChecksum: false }) : readLtxFile(file);
}

// Files larger than this are written to disk as they arrive instead of being held in memory.
const SPOOL_BYTES = 8 * 1024 * 1024;

/** A received file waiting for its apply: decoded in memory, or spooled to disk when large. */
export interface Received {
  header: LtxHeader;
  file?: LtxFile;
  /** The file as received (with `file`). */
  bytes?: Buffer;
  spool?: string;
  /** Bytes it holds in memory. */
  size: number;
}

/**
 * One LTX file arriving in pieces on the stream: held in memory, or, once it outgrows
 * SPOOL_BYTES (a snapshot), written to a file in `spoolDir` as it arrives so memory stays bounded.
 * `finish` verifies it (an in-memory file is decoded whole; a spooled one is checked as it is applied).
 */
export class IncomingFile {
  readonly name: string;
  readonly #spoolDir: () => string;
  #chunks: Buffer[] = [];
  #size = 0;
  #spool: { fd: number; path: string } | undefined;

  constructor(name: string, spoolDir: () => string) {
    this.name = name;
    this.#spoolDir = spoolDir;
  }

  add(data: Buffer): void {
    if (!this.#spool && this.#size + data.length > SPOOL_BYTES) {
      const file = path.join(this.#spoolDir(), `incoming-${process.pid}-${Date.now()}.ltx.tmp`);
      this.#spool = { fd: fs.openSync(file, 'w'), path: file };
      for (const c of this.#chunks) fs.writeSync(this.#spool.fd, c);
      this.#chunks = [];
    }
    if (this.#spool) fs.writeSync(this.#spool.fd, data);
    else this.#chunks.push(data);
    this.#size += data.length;
  }

  /** The whole file, ready for its apply; a corrupt one throws (the stream then asks for it again). */
  finish(): Received {
    if (this.#spool) {
      fs.closeSync(this.#spool.fd);
      const spool = this.#spool.path;
      try {
        return { header: spooledHeader(spool), spool, size: 0 };
      } catch (err) {
        fs.rmSync(spool, { force: true });
        throw new Error(`corrupted LTX file for ${this.name} on the wire (${(err as Error).message}); asking again`);
      }
    }
    const bytes = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    let file: LtxFile;
    try {
      // Snapshot pages are hashed as they are applied; decoding checks the file checksum.
      file = decodeLtx(bytes, { snapshotChecksum: false });
    } catch (err) {
      throw new Error(`corrupted LTX file for ${this.name} on the wire (${(err as Error).message}); asking again`);
    }
    return { header: file.header, file, bytes, size: bytes.length };
  }

  /** Drops a file cut off by a broken stream (its spool file with it). */
  discard(): void {
    if (!this.#spool) return;
    try {
      fs.closeSync(this.#spool.fd);
    } catch {
      // already closed
    }
    fs.rmSync(this.#spool.path, { force: true });
  }
}
