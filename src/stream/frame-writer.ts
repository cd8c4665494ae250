import type http from 'node:http';
import type { Pos } from '../ltx/position.ts';
import { drained } from '../protocol/drained.ts';
import { encodeFrame, FrameType, frameChunks, type Frame } from '../protocol/frames.ts';
import { snapshotLtx } from '../sqlite/snapshot-ltx.ts';
import type { SnapshotRead } from '../sqlite/snapshot-read.ts';

// An LTX file goes to a replica in frames of at most this much data.
const CHUNK_BYTES = 256 * 1024;

/** Writes frames to one replica's stream, waiting while its socket buffer is full. */
export type Send = (...frames: Frame[]) => Promise<void>;

/** The frames of one LTX file: its bytes in pieces a frame may hold (views, not copies). */
export function ltxFrames(name: string, data: Buffer): Frame[] {
  const frames: Frame[] = [{ type: FrameType.LtxBegin, name }];
  for (let off = 0; off < data.length; off += CHUNK_BYTES) frames.push({ type: FrameType.LtxData, data: data.subarray(off, off + CHUNK_BYTES) });
  frames.push({ type: FrameType.LtxEnd });
  return frames;
}

/** Streams database `name` as `snap` reads it, as snapshot LTX 1-N, and closes `snap`; resolves with its position and size. */
export async function sendSnapshot(name: string, snap: SnapshotRead, send: Send, nodeId: bigint): Promise<{ pos: Pos; pageCount: number }> {
  try {
    const { pos, pageCount } = snap;
    await send({ type: FrameType.LtxBegin, name });
    let chunks: Uint8Array[] = [];
    let size = 0;
    const flush = async () => {
      if (size === 0) return;
      const data = Buffer.concat(chunks);
      chunks = [];
      size = 0;
      await send({ type: FrameType.LtxData, data });
    };
    for (const c of snapshotLtx(snap, nodeId)) {
      chunks.push(c);
      size += c.length;
      if (size >= CHUNK_BYTES) await flush();
    }
    await flush();
    await send({ type: FrameType.LtxEnd });
    return { pos, pageCount };
  } finally {
    snap.close();
  }
}

/**
 * Writes frames to the response as one buffer, waiting for the socket to drain when its buffer is
 * full: each write of a response is a chunk of its own, with a header the replica parses, and a
 * catch-up sends thousands of frames at once.
 */
export async function writeFrames(res: http.ServerResponse, frames: Frame[]): Promise<void> {
  if (res.destroyed) throw new Error('replica went away');
  const ok = res.write(frames.length === 1 ? encodeFrame(frames[0]!) : Buffer.concat(frames.flatMap((f) => frameChunks(f).filter((c): c is Buffer => c !== undefined))));
  if (ok) return;
  await drained(res);
  if (res.destroyed) throw new Error('replica went away');
}
