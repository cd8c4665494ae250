import { LtxFormatError } from '../errors.ts';
import { decodeHeader, FLAG_COMPRESS_LZ4, HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE } from './header.ts';

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_CHECKSUM = 0x10;
const LZ4_CONTENT_SIZE = 0x08;
const LZ4_CONTENT_CHECKSUM = 0x04;
const LZ4_DICT_ID = 0x01;
const LZ4_UNCOMPRESSED_BIT = 0x80000000;

/**
 * The length of the LTX file that starts at `off` in `buf` (files stored back to back carry no
 * length of their own), found by walking its page frames up to the terminator, or the blocks of
 * its LZ4 frame; undefined when `buf` ends before the file does. Checks nothing but the header and
 * the structure it walks: decode the file to verify it.
 */
export function ltxFileLength(buf: Uint8Array, off = 0): number | undefined {
  if (buf.length - off < HEADER_SIZE) return undefined;
  const header = decodeHeader(buf.subarray(off, off + HEADER_SIZE));
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  let p = off + HEADER_SIZE;
  if (header.flags & FLAG_COMPRESS_LZ4) {
    const end = lz4FrameEnd(view, p);
    return end === undefined || end + TRAILER_SIZE > buf.length ? undefined : end + TRAILER_SIZE - off;
  }
  const frame = PAGE_HEADER_SIZE + header.pageSize;
  for (;;) {
    if (p + PAGE_HEADER_SIZE > buf.length) return undefined;
    if (view.readUInt32BE(p) === 0) break;
    p += frame;
  }
  p += PAGE_HEADER_SIZE + TRAILER_SIZE;
  return p > buf.length ? undefined : p - off;
}

/** Where the LZ4 frame starting at `p` ends (its end mark and content checksum included); undefined when `buf` ends first. */
export function lz4FrameEnd(buf: Buffer, p: number): number | undefined {
  if (p + 7 > buf.length) return undefined;
  if (buf.readUInt32LE(p) !== LZ4_MAGIC) throw new LtxFormatError('compressed page block does not start with an LZ4 frame');
  const flg = buf[p + 4]!;
  p += 6 + (flg & LZ4_CONTENT_SIZE ? 8 : 0) + (flg & LZ4_DICT_ID ? 4 : 0) + 1;
  for (;;) {
    if (p + 4 > buf.length) return undefined;
    const size = buf.readUInt32LE(p);
    p += 4;
    if (size === 0) break;
    p += (size & ~LZ4_UNCOMPRESSED_BIT) + (flg & LZ4_BLOCK_CHECKSUM ? 4 : 0);
  }
  if (flg & LZ4_CONTENT_CHECKSUM) p += 4;
  return p > buf.length ? undefined : p;
}
