import fs from 'node:fs';
import { LtxFormatError } from '../errors.ts';
import type { LtxPage } from './encoder.ts';
import { HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE, type LtxHeader, type LtxTrailer } from './header.ts';
import { LtxStreamDecoder } from './stream-decoder.ts';

/** An LTX file read page by page: its pages can be used as they come, the trailer once they are all read. */
export interface LtxSource {
  readonly header: LtxHeader;
  readonly pages: Iterable<LtxPage>;
  readonly trailer: LtxTrailer;
}

const BLOCK_PAGES = 256;

/**
 * Reads an uncompressed LTX file from disk in blocks through LtxStreamDecoder, so a snapshot of
 * any size needs no more memory than a block. Every rule of decodeLtx is checked as the pages go
 * by; the file checksum can only be checked at the end, so iterating `pages` throws there if it
 * does not match, and a caller must not keep what it did with the pages until the iteration has
 * finished.
 */
export function readLtxFile(file: string): LtxSource {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const head = Buffer.alloc(HEADER_SIZE);
  const decoder = new LtxStreamDecoder();
  try {
    if (size < HEADER_SIZE + PAGE_HEADER_SIZE + TRAILER_SIZE || fs.readSync(fd, head, 0, HEADER_SIZE, 0) !== HEADER_SIZE) {
      throw new LtxFormatError(`truncated file: ${size} bytes is too short for an LTX file`);
    }
    // Checks the header (and refuses compressed files, which are read whole by decodeLtx).
    decoder.push(head);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  const header = decoder.header!;
  let trailer: LtxTrailer | undefined;
  function* pages(): Generator<LtxPage> {
    try {
      const block = BLOCK_PAGES * (PAGE_HEADER_SIZE + header.pageSize);
      for (let off = HEADER_SIZE; off < size; off += block) {
        // Fresh blocks: the pages handed out are views into them and may be kept by the caller.
        const len = Math.min(block, size - off);
        const buf = Buffer.allocUnsafe(len);
        if (fs.readSync(fd, buf, 0, len, off) !== len) throw new LtxFormatError(`file ended early at byte ${off}`);
        yield* decoder.push(buf);
      }
      trailer = decoder.end().trailer;
    } finally {
      fs.closeSync(fd);
    }
  }
  return {
    header,
    pages: { [Symbol.iterator]: pages },
    get trailer(): LtxTrailer {
      if (!trailer) throw new LtxFormatError('the trailer is known only after every page was read');
      return trailer;
    },
  };
}
