import { LtxFormatError } from '../errors.ts';

/** A level-0 segment: LTX files back to back, each behind its length (u32, big-endian). */
export function encodeSegment(files: Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length);
    parts.push(len, f);
  }
  return Buffer.concat(parts);
}

/** The LTX files of a segment, in order; a truncated segment is an error naming `what`. */
export function decodeSegment(buf: Buffer, what: string): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new LtxFormatError(`${what}: truncated segment at byte ${off}`);
    const len = buf.readUInt32BE(off);
    if (off + 4 + len > buf.length) throw new LtxFormatError(`${what}: truncated segment at byte ${off} (an LTX file of ${len} bytes does not fit)`);
    out.push(buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}
