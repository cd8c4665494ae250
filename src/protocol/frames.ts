import { LitefleetError } from '../errors.ts';

/**
 * The replication stream's frames, primary → replica, in the body of `POST /stream`:
 * `u8 type, u32 payload length, payload`. An LTX file travels as LTX_BEGIN (the database name),
 * any number of LTX_DATA chunks and LTX_END, so a snapshot of any size streams with bounded memory
 * on the sender; control frames carry JSON.
 */
export const FrameType = {
  LtxBegin: 1,
  LtxData: 2,
  LtxEnd: 3,
  /** The first catch-up pass is done: the replica holds everything the primary had when it connected. */
  Ready: 4,
  /** Sent at least every second: the primary's clock and positions, for lag. */
  Heartbeat: 5,
  /** The primary no longer has this database. */
  DropDb: 6,
  /**
   * Sent before a snapshot that replaces a replica's history: positions the primary's history
   * passed through, newest first, so the replica can tell where its own history forked.
   */
  Diverged: 7,
  /** Sent to a handoff's target once it has everything: the final positions; take the lease now. */
  Handoff: 8,
  /** A database's primary terms ([first TXID, term], oldest first), before the transactions they cover. */
  Terms: 9,
} as const;

export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** A node of the cluster as the primary knows it: its id and API URL. */
export interface PeerNode {
  id: string;
  url: string;
}

/**
 * What a heartbeat says: the primary's time, each database's TXID there, and the nodes streaming
 * from it (itself first), so every replica knows whom to ask how far it got if the primary dies.
 */
export interface HeartbeatPayload {
  time: number;
  txids: Record<string, number>;
  nodes?: PeerNode[];
}

/** What a Diverged frame says: positions (`<txid>/<checksum>`) of the primary's history, newest first. */
export interface DivergedPayload {
  name: string;
  points: string[];
}

/** What a Handoff frame says: every database's final position as `<txid>/<checksum>`. */
export interface HandoffPayload {
  positions: Record<string, string>;
}

/** What a Terms frame says (see SegmentLog.terms). */
export interface TermsPayload {
  name: string;
  terms: Array<[number, number]>;
}

/** A decoded frame. */
export type Frame =
  | { type: typeof FrameType.LtxBegin; name: string }
  | { type: typeof FrameType.LtxData; data: Buffer }
  | { type: typeof FrameType.LtxEnd }
  | { type: typeof FrameType.Ready }
  | { type: typeof FrameType.Heartbeat; heartbeat: HeartbeatPayload }
  | { type: typeof FrameType.DropDb; name: string }
  | { type: typeof FrameType.Diverged; diverged: DivergedPayload }
  | { type: typeof FrameType.Handoff; handoff: HandoffPayload }
  | { type: typeof FrameType.Terms; terms: TermsPayload };

const FRAME_HEADER_SIZE = 5;
/** No frame is larger: LTX data is chunked well below it, so a corrupt length is caught at once. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024;

/** The stream broke a rule of the frame format. */
export class StreamProtocolError extends LitefleetError {
  constructor(message: string) {
    super('ESTREAM', message);
  }
}

/** Encodes one frame. */
export function encodeFrame(frame: Frame): Buffer {
  const [head, payload] = frameChunks(frame);
  return payload ? Buffer.concat([head, payload]) : head;
}

/** One frame as its header and its payload (not copied: an LTX file goes out as the buffer it is). */
export function frameChunks(frame: Frame): [Buffer, Buffer | undefined] {
  let payload: Buffer;
  switch (frame.type) {
    case FrameType.LtxBegin:
    case FrameType.DropDb:
      payload = Buffer.from(frame.name, 'utf8');
      break;
    case FrameType.LtxData:
      payload = frame.data;
      break;
    case FrameType.Heartbeat:
      payload = Buffer.from(JSON.stringify(frame.heartbeat), 'utf8');
      break;
    case FrameType.Diverged:
      payload = Buffer.from(JSON.stringify(frame.diverged), 'utf8');
      break;
    case FrameType.Handoff:
      payload = Buffer.from(JSON.stringify(frame.handoff), 'utf8');
      break;
    case FrameType.Terms:
      payload = Buffer.from(JSON.stringify(frame.terms), 'utf8');
      break;
    default:
      payload = Buffer.alloc(0);
  }
  const head = Buffer.alloc(FRAME_HEADER_SIZE);
  head.writeUInt8(frame.type, 0);
  head.writeUInt32BE(payload.length, 1);
  return [head, payload.length ? payload : undefined];
}

/** Splits a byte stream into frames, whatever the chunking of the transport. */
export class FrameParser {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** Adds bytes; returns every frame they complete. */
  push(chunk: Buffer): Frame[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#pendingBytes < FRAME_HEADER_SIZE) break;
      // The header may span pieces; the pieces are joined only once a whole frame is there (a
      // large frame arriving in many socket reads would otherwise be copied again at every read).
      const head = this.#pending[0]!.length >= FRAME_HEADER_SIZE ? this.#pending[0]! : Buffer.concat(this.#pending, FRAME_HEADER_SIZE);
      const type = head.readUInt8(0);
      const len = head.readUInt32BE(1);
      if (len > MAX_FRAME_PAYLOAD) throw new StreamProtocolError(`frame of ${len} bytes is larger than the ${MAX_FRAME_PAYLOAD} allowed`);
      if (this.#pendingBytes < FRAME_HEADER_SIZE + len) break;
      const buf = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
      // Views, not copies: every piece is a buffer of its own that nothing writes to again.
      frames.push(decodePayload(type, buf.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + len)));
      const rest = buf.subarray(FRAME_HEADER_SIZE + len);
      this.#pending = rest.length ? [rest] : [];
      this.#pendingBytes = rest.length;
    }
    return frames;
  }
}

function decodePayload(type: number, payload: Buffer): Frame {
  switch (type) {
    case FrameType.LtxBegin:
      return { type, name: payload.toString('utf8') };
    case FrameType.DropDb:
      return { type, name: payload.toString('utf8') };
    case FrameType.LtxData:
      return { type, data: payload };
    case FrameType.LtxEnd:
    case FrameType.Ready:
      return { type };
    case FrameType.Heartbeat:
      return { type, heartbeat: parseJson<HeartbeatPayload>(payload, 'heartbeat') };
    case FrameType.Diverged:
      return { type, diverged: parseJson<DivergedPayload>(payload, 'diverged') };
    case FrameType.Handoff:
      return { type, handoff: parseJson<HandoffPayload>(payload, 'handoff') };
    case FrameType.Terms:
      return { type, terms: parseJson<TermsPayload>(payload, 'terms') };
    default:
      throw new StreamProtocolError(`unknown frame type ${type}`);
  }
}

function parseJson<T>(payload: Buffer, what: string): T {
  try {
    return JSON.parse(payload.toString('utf8')) as T;
  } catch {
    throw new StreamProtocolError(`${what} frame is not valid JSON`);
  }
}
